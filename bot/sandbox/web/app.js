// The sandbox's web client: a small Slack-like workspace driving the real Vigie through the
// sandbox server. Plain ES modules, no build, no framework: the page is a few lists that
// change one message at a time, which the DOM does well on its own.

import { api, ApiError } from "./api.js";
import { collectValues, el, menuKeys, renderBlocks } from "./blocks.js";
import { chooseLang, lang, LANGS, setLang, t } from "./i18n.js";
import { emojiFor, mrkdwnNodes, plainNodes, textObjectNodes, textObjectString } from "./mrkdwn.js";

const $ = (sel) => document.querySelector(sel);
const FIRST_BATCH = 40; // messages rendered when a channel opens (newest)
const BATCH = 60; // then per step, as the reader scrolls up
const PAGE = 100; // messages per history request (the server pages like conversations.history)
const QUICK_REACTIONS = ["white_check_mark", "x", "eyes", "+1", "heart", "tada"];
const DEFAULT_SHORTCUTS = [{ callback_id: "send_to_vigie", name: "Envoyer à Vigie" }];

const state = {
  me: null,
  boot: null,
  users: new Map(),
  channels: new Map(),
  view: null, // {kind: "channel", id} | {kind: "home"} | {kind: "mastodon"}
  unread: new Map(),
  cursor: 0,
  channelView: null,
  thread: null, // {channel, ts}
  modalKey: null,
};

// ------------------------------------------------------------------ helpers

function userName(id) {
  if (!id) return null;
  if (state.boot && id === state.boot.bot_user_id) return "Vigie";
  const u = state.users.get(id);
  return u ? u.real_name || u.name : null;
}

function channelName(id) {
  const c = state.channels.get(id);
  if (!c) return null;
  return c.is_im ? imName(c) : c.name;
}

function imName(c) {
  const other = (c.members || []).find((m) => m !== state.me) ?? (c.members || [])[0];
  return userName(other) || c.name || c.id;
}

function toast(message, isError = false) {
  const box = $("#toast");
  const item = el("div", { class: "toast" + (isError ? " toast-error" : ""), text: message });
  box.append(item);
  setTimeout(() => item.remove(), isError ? 8000 : 4000);
}

function reportError(err) {
  console.error(err);
  toast(t("error", err instanceof ApiError ? err.message : String(err.message || err)), true);
}

function formatTime(ts) {
  const d = new Date(parseFloat(ts) * 1000);
  return d.toLocaleTimeString(lang(), { hour: "2-digit", minute: "2-digit" });
}

function formatDateTime(ts) {
  const d = new Date(parseFloat(ts) * 1000);
  return d.toLocaleString(lang(), { dateStyle: "medium", timeStyle: "short" });
}

function blockCtx(extra) {
  return {
    userName,
    channelName,
    users: [...state.users.values()].filter((u) => !u.is_bot),
    channels: [...state.channels.values()].map((c) => ({ ...c, name: c.is_im ? imName(c) : c.name })),
    fileUrl: api.fileUrl,
    confirm: confirmDialog,
    inputs: [],
    errors: {},
    ...extra,
  };
}

// ------------------------------------------------------------------ static text

function applyStaticText() {
  document.title = t("app_title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of document.querySelectorAll("[data-i18n-label]")) node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  $("#advance-15").textContent = "+" + t("quarter");
  $("#advance-60").textContent = "+" + t("hour");
  $("#advance-1440").textContent = "+" + t("day");
  for (const [id, key] of [["#advance-15", "quarter"], ["#advance-60", "hour"], ["#advance-1440", "day"]]) {
    $(id).setAttribute("aria-label", t("advance_by", t(key)));
  }
}

// ------------------------------------------------------------------ sidebar

function renderSidebar() {
  const who = $("#whoami");
  who.replaceChildren(
    ...state.boot.users
      .filter((u) => !u.is_bot && u.id !== state.boot.bot_user_id)
      .map((u) => {
        const o = el("option", { value: u.id }, u.role ? `${u.real_name || u.name} — ${u.role}` : u.real_name || u.name);
        if (u.id === state.me) o.selected = true;
        return o;
      }),
  );
  const chans = [...state.channels.values()].filter((c) => !c.is_im && (!c.members || c.members.includes(state.me) || !c.is_private));
  const ims = [...state.channels.values()].filter((c) => c.is_im && (!c.members || c.members.includes(state.me)));
  $("#channel-list").replaceChildren(...chans.map((c) => navItem(c.id, "# " + c.name)));
  $("#dm-list").replaceChildren(...ims.map((c) => navItem(c.id, imName(c))));
  markCurrent();
}

function navItem(id, label) {
  const count = state.unread.get(id) || 0;
  const btn = el("button", { type: "button", class: "nav-item" + (count ? " unread" : ""), "data-channel": id });
  btn.append(el("span", { class: "nav-label", text: label }));
  if (count) btn.append(el("span", { class: "badge", "aria-label": t("unread", count), text: String(count) }));
  btn.addEventListener("click", () => openChannel(id));
  return el("li", {}, btn);
}

function markCurrent() {
  for (const b of document.querySelectorAll("#sidebar .nav-item")) {
    const active =
      (state.view?.kind === "channel" && b.dataset.channel === state.view.id) ||
      (state.view && b.dataset.view === state.view.kind);
    if (active) b.setAttribute("aria-current", "page");
    else b.removeAttribute("aria-current");
  }
}

function bumpUnread(channel) {
  state.unread.set(channel, (state.unread.get(channel) || 0) + 1);
  const btn = document.querySelector(`#sidebar [data-channel="${CSS.escape(channel)}"]`);
  if (!btn) return;
  const li = btn.parentElement;
  const c = state.channels.get(channel);
  li.replaceWith(navItem(channel, c.is_im ? imName(c) : "# " + c.name));
  markCurrent();
}

// ------------------------------------------------------------------ message rendering

function messageKey(m) {
  return (m.ephemeral ? "e:" : "") + m.ts;
}

function authorOf(m) {
  if (m.user && m.user !== state.boot.bot_user_id && !m.bot_id && !m.ephemeral) return { name: userName(m.user) || m.user, bot: false };
  // An app's message (ephemerals included: their `user` is whom they are shown to).
  return { name: m.username || userName(state.boot.bot_user_id) || "Vigie", bot: true };
}

/** One message as an <article>. inThread: rendered in the thread pane (no reply counter). */
function renderMessage(m, channel, { inThread = false } = {}) {
  const author = authorOf(m);
  const headId = "h-" + messageKey(m).replace(/[^\w-]/g, "_") + (inThread ? "-t" : "");
  const node = el("article", {
    class: "msg" + (m.ephemeral ? " ephemeral" : "") + (author.bot ? " from-bot" : ""),
    "data-ts": m.ts,
    "aria-labelledby": headId,
    tabindex: "-1",
  });
  const head = el("div", { class: "msg-head", id: headId });
  head.append(el("span", { class: "msg-author", text: author.name }));
  if (author.bot) head.append(el("span", { class: "bot-badge", text: t("bot") }));
  head.append(el("time", { class: "msg-time", datetime: new Date(parseFloat(m.ts) * 1000).toISOString(), title: formatDateTime(m.ts), text: formatTime(m.ts) }));
  node.append(head);
  if (m.ephemeral) node.append(el("div", { class: "only-you", text: "👁 " + t("only_you") }));

  const ctx = blockCtx({
    surface: "message",
    act: (a) => api.action({ user: state.me, channel, message_ts: m.ts, ephemeral: Boolean(m.ephemeral) || undefined, ...a }).catch(reportError),
  });
  const body = el("div", { class: "msg-body" });
  if (m.blocks && m.blocks.length) body.append(renderBlocks(m.blocks, ctx));
  else if (m.text) body.append(el("div", { class: "msg-text" }, mrkdwnNodes(m.text, ctx)));
  if (m.edited) body.append(el("span", { class: "edited", text: t("edited") }));
  for (const a of m.attachments || []) body.append(renderAttachment(a, ctx));
  for (const f of m.files || []) body.append(renderFile(f));
  node.append(body);

  if (m.reactions && m.reactions.length) node.append(renderReactions(m, channel));
  if (!inThread && m.reply_count) {
    const btn = el("button", { type: "button", class: "link thread-link", text: "💬 " + t("replies", m.reply_count) });
    btn.addEventListener("click", () => openThread(channel, m.ts));
    node.append(btn);
  }
  if (!m.ephemeral) {
    // The toolbar (reactions, thread, shortcuts) is built on first hover or focus: a long
    // channel then costs a fraction of the nodes.
    const build = () => {
      node.removeEventListener("pointerenter", build);
      node.removeEventListener("focusin", build);
      node.append(messageToolbar(m, channel, inThread));
    };
    node.addEventListener("pointerenter", build);
    node.addEventListener("focusin", build);
  }
  return node;
}

function renderAttachment(a, ctx) {
  const box = el("div", { class: "attachment" });
  if (a.color) box.style.borderLeftColor = /^#?[0-9a-f]{3,8}$/i.test(a.color) ? (a.color.startsWith("#") ? a.color : "#" + a.color) : "";
  if (a.pretext) box.append(el("div", {}, mrkdwnNodes(a.pretext, ctx)));
  if (a.title) box.append(el("div", { class: "att-title" }, plainNodes(a.title)));
  if (a.blocks) box.append(renderBlocks(a.blocks, ctx));
  if (a.text) box.append(el("div", {}, mrkdwnNodes(a.text, ctx)));
  if (a.fields && a.fields.length) {
    const fields = el("div", { class: "blk-fields" });
    for (const f of a.fields) fields.append(el("div", { class: "blk-field" }, el("strong", { text: f.title ?? "" }), el("div", {}, mrkdwnNodes(f.value ?? "", ctx))));
    box.append(fields);
  }
  if (a.footer) box.append(el("div", { class: "blk-context" }, mrkdwnNodes(a.footer, ctx)));
  return box;
}

function renderFile(f) {
  const url = api.fileUrl(f.id);
  const name = f.title || f.name || f.id;
  const mime = f.mimetype || "";
  if (mime.startsWith("image/") || /\.(png|jpe?g|gif|svg|webp)$/i.test(f.name || "")) {
    return el("figure", { class: "file file-image" }, el("img", { src: url, alt: name, loading: "lazy" }), el("figcaption", { text: name }));
  }
  return el(
    "div",
    { class: "file" },
    el("span", { class: "file-icon", "aria-hidden": "true", text: "📄" }),
    el("a", { href: url, download: f.name || name, text: `${t("download")} ${name}` }),
  );
}

function renderReactions(m, channel) {
  const bar = el("div", { class: "reactions", role: "group", "aria-label": "Reactions" });
  for (const r of m.reactions) {
    const mine = (r.users || []).includes(state.me);
    const glyph = emojiFor(r.name) ?? `:${r.name}:`;
    const btn = el("button", {
      type: "button",
      class: "reaction" + (mine ? " mine" : ""),
      "aria-pressed": String(mine),
      "aria-label": t("reaction_label", r.name, r.count, mine),
      "data-reaction": r.name,
    });
    btn.append(el("span", { "aria-hidden": "true", text: glyph }), el("span", { class: "count", "aria-hidden": "true", text: String(r.count) }));
    btn.addEventListener("click", () => react(channel, m.ts, r.name, !mine));
    bar.append(btn);
  }
  return bar;
}

function react(channel, ts, name, add) {
  return api.reaction({ user: state.me, channel, ts, name, add }).catch(reportError);
}

/** Hover/focus toolbar: quick ✅ ❌, an emoji picker, thread reply, and the shortcuts menu. */
function messageToolbar(m, channel, inThread) {
  const bar = el("div", { class: "msg-toolbar", role: "toolbar", "aria-label": t("message_actions") });
  const mineHas = (name) => (m.reactions || []).some((r) => r.name === name && (r.users || []).includes(state.me));
  for (const name of ["white_check_mark", "x"]) {
    const b = el("button", { type: "button", class: "btn-icon", "aria-label": `${t("add_reaction")} ${name}`, "data-quick-reaction": name, text: emojiFor(name) });
    b.addEventListener("click", () => react(channel, m.ts, name, !mineHas(name)));
    bar.append(b);
  }
  // Minimal picker
  const pickId = "pick-" + m.ts.replace(".", "_") + (inThread ? "t" : "");
  const pickBtn = el("button", { type: "button", class: "btn-icon", "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": pickId, "aria-label": t("add_reaction"), text: "☺+" });
  const picker = el("ul", { class: "menu picker", role: "menu", id: pickId, hidden: true });
  const closePicker = (focus) => {
    picker.hidden = true;
    pickBtn.setAttribute("aria-expanded", "false");
    if (focus) pickBtn.focus();
  };
  for (const name of QUICK_REACTIONS) {
    const li = el("li", { role: "menuitem", tabindex: "-1", class: "menu-item", "aria-label": name, text: emojiFor(name) });
    const choose = () => {
      closePicker(true);
      react(channel, m.ts, name, !mineHas(name));
    };
    li.addEventListener("click", choose);
    li.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), choose()));
    picker.append(li);
  }
  menuKeys(picker, closePicker);
  pickBtn.addEventListener("click", () => {
    const open = picker.hidden;
    picker.hidden = !open;
    pickBtn.setAttribute("aria-expanded", String(open));
    if (open) picker.querySelector("[role=menuitem]").focus();
  });
  bar.append(el("span", { class: "overflow" }, pickBtn, picker));
  if (!inThread) {
    const reply = el("button", { type: "button", class: "btn-icon", "aria-label": t("reply_in_thread"), text: "💬" });
    reply.addEventListener("click", () => openThread(channel, m.thread_ts || m.ts));
    bar.append(reply);
  }
  // Shortcuts ("Envoyer à Vigie")
  const menuId = "more-" + m.ts.replace(".", "_") + (inThread ? "t" : "");
  const moreBtn = el("button", { type: "button", class: "btn-icon", "aria-haspopup": "menu", "aria-expanded": "false", "aria-controls": menuId, "aria-label": t("more"), text: "⋮" });
  const menu = el("ul", { class: "menu", role: "menu", id: menuId, hidden: true });
  const closeMenu = (focus) => {
    menu.hidden = true;
    moreBtn.setAttribute("aria-expanded", "false");
    if (focus) moreBtn.focus();
  };
  for (const s of state.boot.shortcuts || DEFAULT_SHORTCUTS) {
    const li = el("li", { role: "menuitem", tabindex: "-1", class: "menu-item", text: s.name });
    const choose = () => {
      closeMenu(true);
      api.shortcut({ user: state.me, channel, message_ts: m.ts, callback_id: s.callback_id }).catch(reportError);
    };
    li.addEventListener("click", choose);
    li.addEventListener("keydown", (e) => (e.key === "Enter" || e.key === " ") && (e.preventDefault(), choose()));
    menu.append(li);
  }
  menuKeys(menu, closeMenu);
  moreBtn.addEventListener("click", () => {
    const open = menu.hidden;
    menu.hidden = !open;
    moreBtn.setAttribute("aria-expanded", String(open));
    if (open) menu.querySelector("[role=menuitem]")?.focus();
  });
  bar.append(el("span", { class: "overflow" }, moreBtn, menu));
  return bar;
}

// ------------------------------------------------------------------ channel view

const FOCUSABLE = "button, select, input, textarea, a[href], [tabindex]";

/** Where the focus is inside a message (block id + control index), to put it back after
 * the message is redrawn: a keyboard user clicking "Je prends" keeps their place. */
function focusPath(node) {
  const active = document.activeElement;
  if (!active || !node.contains(active)) return null;
  if (active === node) return { self: true };
  const block = active.closest("[data-block-id]");
  const scope = block && node.contains(block) ? block : node;
  return {
    blockId: block && node.contains(block) ? block.dataset.blockId : null,
    index: [...scope.querySelectorAll(FOCUSABLE)].indexOf(active),
  };
}

function restoreFocus(node, path) {
  if (path.self) return node.focus();
  let scope = node;
  if (path.blockId !== null) {
    scope = [...node.querySelectorAll("[data-block-id]")].find((b) => b.dataset.blockId === path.blockId) || node;
  }
  const target = [...scope.querySelectorAll(FOCUSABLE)][path.index];
  (target || node).focus();
}

/**
 * The open channel's message list. Keeps one node per message keyed by ts, re-renders a
 * message only when its JSON changed, and renders long histories BATCH at a time (newest
 * first, older ones when the reader scrolls up). The server sends the channel a PAGE at a
 * time: scrolling past the oldest message loaded asks for the page before it.
 */
class ChannelView {
  constructor(channel, container) {
    this.channel = channel;
    this.container = container;
    this.all = []; // messages, oldest → newest
    this.nodes = new Map(); // key → {sig, node}
    this.renderedFrom = 0; // index in `all` of the oldest rendered message
    this.nextCursor = ""; // history's cursor to the page before `all[0]` ("": none)
    this.loading = null; // the older page being fetched
    this.list = el("div", { class: "msg-list" });
    this.older = el("button", { type: "button", class: "link load-older", text: t("load_older"), hidden: true });
    this.older.addEventListener("click", () => this.renderOlder());
    this.observer = new IntersectionObserver((entries) => entries.some((e) => e.isIntersecting) && this.renderOlder(), {
      root: container,
    });
    this.observer.observe(this.older);
    container.replaceChildren(this.older, this.list);
    container.onkeydown = (e) => this.onKey(e);
  }

  /** ArrowUp/ArrowDown move between messages (one tab stop for the whole list). */
  onKey(e) {
    if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
    const current = e.target.closest ? e.target.closest("article.msg") : null;
    if (e.target !== this.container && current !== e.target) return;
    const items = this.list.querySelectorAll("article.msg");
    if (!items.length) return;
    let next;
    if (!current) next = items[items.length - 1];
    else next = e.key === "ArrowUp" ? current.previousElementSibling : current.nextElementSibling;
    if (!next && e.key === "ArrowUp") {
      this.renderOlder();
      next = current ? current.previousElementSibling : null;
    }
    if (next && next.matches("article.msg")) {
      e.preventDefault();
      next.focus();
    }
  }

  destroy() {
    this.observer.disconnect();
  }

  /** The channel's newest page, when it opens or is read again (an ephemeral came). */
  showNewest(data) {
    const page = data.messages || [];
    const cursor = (data.response_metadata && data.response_metadata.next_cursor) || "";
    if (!data.has_more || !page.length || !this.all.length) {
      this.nextCursor = cursor;
      this.setAll(page);
      return;
    }
    // Keep the older pages already read: replace only what this page covers.
    const oldest = Math.min(...page.map((m) => parseFloat(m.ts)));
    const older = this.all.filter((m) => parseFloat(m.ts) < oldest);
    if (!older.length) this.nextCursor = cursor;
    this.setAll([...older, ...page]);
  }

  /** Fetch the page before the oldest message loaded, then show a batch of it. */
  loadOlder() {
    if (this.loading || !this.nextCursor) return this.loading;
    const channel = this.channel;
    this.loading = api
      .history(channel, state.me, { limit: PAGE, cursor: this.nextCursor })
      .then((data) => {
        if (state.channelView !== this) return;
        const known = new Set(this.all.map(messageKey));
        const fresh = (data.messages || []).filter((m) => !known.has(messageKey(m)));
        this.all = [...fresh, ...this.all].sort((a, b) => parseFloat(a.ts) - parseFloat(b.ts));
        this.renderedFrom += fresh.length;
        this.nextCursor = (data.has_more && data.response_metadata && data.response_metadata.next_cursor) || "";
        this.renderOlder();
      })
      .catch(reportError)
      .finally(() => {
        this.loading = null;
      });
    return this.loading;
  }

  setAll(messages) {
    const sorted = [...messages].sort((a, b) => parseFloat(a.ts) - parseFloat(b.ts));
    const renderedCount = Math.max(FIRST_BATCH, this.all.length - this.renderedFrom);
    this.all = sorted;
    this.renderedFrom = Math.max(0, sorted.length - renderedCount);
    const keep = new Set(sorted.slice(this.renderedFrom).map(messageKey));
    for (const [key, entry] of this.nodes) {
      if (!keep.has(key)) {
        entry.node.remove();
        this.nodes.delete(key);
      }
    }
    const atBottom = this.nearBottom();
    for (const m of sorted.slice(this.renderedFrom)) this.place(m);
    this.older.hidden = this.renderedFrom === 0 && !this.nextCursor;
    if (!sorted.length) this.list.replaceChildren(el("p", { class: "empty", text: t("empty_channel") }));
    else this.list.querySelector(".empty")?.remove();
    if (atBottom) this.scrollToBottom();
  }

  nearBottom() {
    const c = this.container;
    return c.scrollHeight - c.scrollTop - c.clientHeight < 120;
  }

  scrollToBottom() {
    this.container.scrollTop = this.container.scrollHeight;
  }

  /** Insert or replace one message's node at its place (by ts). */
  place(m) {
    const key = messageKey(m);
    const sig = JSON.stringify(m);
    const existing = this.nodes.get(key);
    if (existing && existing.sig === sig) return;
    const node = renderMessage(m, this.channel);
    node.dataset.key = key;
    if (existing) {
      const focus = focusPath(existing.node);
      const toolbar = existing.node.querySelector(".msg-toolbar");
      existing.node.replaceWith(node);
      if (toolbar) node.dispatchEvent(new PointerEvent("pointerenter"));
      if (focus) restoreFocus(node, focus);
    } else {
      const ts = parseFloat(m.ts);
      let before = null;
      // Most inserts are at the end: walk from the last child backwards.
      for (let child = this.list.lastElementChild; child; child = child.previousElementSibling) {
        if (!child.dataset.ts) continue;
        if (parseFloat(child.dataset.ts) <= ts) break;
        before = child;
      }
      this.list.insertBefore(node, before);
      this.list.querySelector(".empty")?.remove();
    }
    this.nodes.set(key, { sig, node });
  }

  upsert(m) {
    const key = messageKey(m);
    const i = this.all.findIndex((x) => messageKey(x) === key);
    const atBottom = this.nearBottom();
    if (i >= 0) this.all[i] = m;
    else {
      this.all.push(m);
      this.all.sort((a, b) => parseFloat(a.ts) - parseFloat(b.ts));
    }
    const index = this.all.findIndex((x) => messageKey(x) === key);
    if (index >= this.renderedFrom) this.place(m);
    if (atBottom) this.scrollToBottom();
  }

  remove(ts) {
    this.all = this.all.filter((x) => x.ts !== ts || x.ephemeral);
    const entry = this.nodes.get(ts);
    if (entry) {
      entry.node.remove();
      this.nodes.delete(ts);
    }
  }

  renderOlder() {
    if (this.renderedFrom === 0) {
      this.loadOlder();
      return;
    }
    const from = Math.max(0, this.renderedFrom - BATCH);
    const slice = this.all.slice(from, this.renderedFrom);
    const prevHeight = this.container.scrollHeight;
    const frag = document.createDocumentFragment();
    for (const m of slice) {
      const node = renderMessage(m, this.channel);
      node.dataset.key = messageKey(m);
      this.nodes.set(messageKey(m), { sig: JSON.stringify(m), node });
      frag.append(node);
    }
    this.list.prepend(frag);
    this.renderedFrom = from;
    this.older.hidden = from === 0 && !this.nextCursor;
    this.container.scrollTop += this.container.scrollHeight - prevHeight;
  }
}

// ------------------------------------------------------------------ navigation

function showPane(name) {
  for (const id of ["messages", "home-pane", "mastodon-pane"]) $("#" + id).hidden = id !== name;
  $("#composer").hidden = name !== "messages";
}

async function openChannel(id) {
  state.view = { kind: "channel", id };
  state.unread.delete(id);
  const c = state.channels.get(id);
  const name = c ? (c.is_im ? imName(c) : "#" + c.name) : id;
  $("#main-title").textContent = name;
  $("#composer-input").placeholder = t("composer_placeholder", name);
  $("#composer-input").setAttribute("aria-label", t("composer_label", name));
  showPane("messages");
  renderSidebar();
  history.replaceState(null, "", urlFor());
  state.channelView?.destroy();
  const container = $("#messages");
  container.setAttribute("aria-busy", "true");
  const view = new ChannelView(id, container);
  state.channelView = view;
  try {
    const data = await api.history(id, state.me, { limit: PAGE });
    if (state.channelView !== view) return;
    view.showNewest(data);
    view.scrollToBottom();
  } catch (err) {
    reportError(err);
  } finally {
    container.removeAttribute("aria-busy");
  }
}

async function openHome() {
  state.view = { kind: "home" };
  $("#main-title").textContent = t("app_home");
  showPane("home-pane");
  markCurrent();
  history.replaceState(null, "", urlFor());
  try {
    await api.homeOpened({ user: state.me });
    await renderHome();
  } catch (err) {
    reportError(err);
  }
}

async function renderHome() {
  const data = await api.views(state.me);
  const pane = $("#home-pane");
  if (!data.home) {
    pane.replaceChildren(el("p", { class: "empty", text: t("no_home") }));
    return;
  }
  const home = data.home;
  const ctx = blockCtx({
    surface: "home",
    act: (a) => api.action({ user: state.me, view_id: home.id, ...a, state: { values: collectValues(ctx.inputs) } }).catch(reportError),
  });
  pane.replaceChildren(el("div", { class: "home-view" }, renderBlocks(home.blocks, ctx)));
}

async function openMastodon() {
  state.view = { kind: "mastodon" };
  $("#main-title").textContent = t("mastodon");
  showPane("mastodon-pane");
  markCurrent();
  history.replaceState(null, "", urlFor());
  await renderMastodon();
}

/** Mastodon's `content` is HTML from the instance: parsed inert, only its text is shown. */
function statusText(html) {
  const doc = new DOMParser().parseFromString(String(html || ""), "text/html");
  const parts = [];
  const paras = doc.body.querySelectorAll("p");
  if (!paras.length) return doc.body.textContent;
  for (const p of paras) {
    for (const br of p.querySelectorAll("br")) br.replaceWith("\n");
    parts.push(p.textContent);
  }
  return parts.join("\n\n");
}

async function renderMastodon() {
  const pane = $("#mastodon-pane");
  try {
    const data = await api.mastodon();
    const statuses = data.statuses || [];
    if (!statuses.length) {
      pane.replaceChildren(el("p", { class: "empty", text: t("no_statuses") }));
      return;
    }
    const list = el("ol", { class: "statuses", "aria-label": t("mastodon") });
    for (const s of statuses) {
      const acct = typeof s.account === "string" ? s.account : s.account?.acct || s.account?.username || "";
      const item = el("li", { class: "status", "data-status-id": s.id });
      item.append(el("div", { class: "msg-head" }, el("span", { class: "msg-author", text: "🐘 @" + acct.replace(/^@/, "") }), el("time", { class: "msg-time", text: s.created_at ? new Date(s.created_at).toLocaleString(lang()) : "" })));
      if (s.in_reply_to_id) item.append(el("div", { class: "status-reply", text: `↩ ${t("in_reply_to")} #${s.in_reply_to_id}` }));
      item.append(el("div", { class: "status-content", text: s.text ?? statusText(s.content) }));
      list.append(item);
    }
    pane.replaceChildren(list);
  } catch (err) {
    reportError(err);
  }
}

function urlFor() {
  const params = new URLSearchParams(location.search);
  params.set("user", state.me);
  if (state.view?.kind === "channel") params.set("channel", state.view.id);
  else params.delete("channel");
  if (state.view && state.view.kind !== "channel") params.set("pane", state.view.kind);
  else params.delete("pane");
  return "?" + params.toString();
}

// ------------------------------------------------------------------ threads

async function openThread(channel, ts) {
  state.thread = { channel, ts };
  const pane = $("#thread");
  pane.hidden = false;
  await refreshThread();
  $("#thread-input").focus();
}

async function refreshThread() {
  if (!state.thread) return;
  const { channel, ts } = state.thread;
  try {
    const data = await api.replies(channel, ts, state.me);
    if (!state.thread || state.thread.ts !== ts) return;
    renderThread(data.messages || []);
  } catch (err) {
    reportError(err);
  }
}

function renderThread(messages) {
  const list = $("#thread-list");
  list.replaceChildren(...messages.map((m) => renderMessage(m, state.thread.channel, { inThread: true })));
}

function closeThread() {
  state.thread = null;
  $("#thread").hidden = true;
}

// ------------------------------------------------------------------ modals

function confirmDialog(c) {
  return new Promise((resolve) => {
    const dlg = $("#confirm");
    const titleId = "confirm-title";
    dlg.setAttribute("aria-labelledby", titleId);
    const yes = el("button", { type: "button", class: "btn " + (c.style === "danger" ? "btn-danger" : "btn-primary") }, plainNodes(textObjectString(c.confirm) || t("confirm")));
    const no = el("button", { type: "button", class: "btn" }, plainNodes(textObjectString(c.deny) || t("cancel")));
    dlg.replaceChildren(
      el("h2", { id: titleId, class: "dlg-title" }, plainNodes(textObjectString(c.title) || t("confirm"))),
      el("div", { class: "dlg-body" }, textObjectNodes(c.text, { userName, channelName })),
      el("div", { class: "dlg-foot" }, no, yes),
    );
    const done = (ok) => {
      dlg.close();
      resolve(ok);
    };
    yes.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    dlg.addEventListener("cancel", () => resolve(false), { once: true });
    dlg.showModal();
    no.focus();
  });
}

/** Previously typed values survive a views.update: feed them back as initial values. */
function withPrior(blocks, prior) {
  if (!prior) return blocks;
  return blocks.map((b) => {
    if (b.type !== "input" || !b.element || !prior[b.block_id]) return b;
    const v = prior[b.block_id][b.element.action_id];
    if (!v) return b;
    const e = { ...b.element };
    if ("value" in v) e.initial_value = v.value ?? "";
    if ("selected_option" in v) e.initial_option = v.selected_option ?? undefined;
    if ("selected_options" in v) e.initial_options = v.selected_options;
    if ("selected_date" in v) e.initial_date = v.selected_date ?? undefined;
    if ("selected_time" in v) e.initial_time = v.selected_time ?? undefined;
    if ("selected_date_time" in v) e.initial_date_time = v.selected_date_time ?? undefined;
    if ("selected_user" in v) e.initial_user = v.selected_user ?? undefined;
    if ("selected_users" in v) e.initial_users = v.selected_users;
    if ("selected_conversation" in v) e.initial_conversation = v.selected_conversation ?? undefined;
    if ("selected_channel" in v) e.initial_channel = v.selected_channel ?? undefined;
    return { ...b, element: e };
  });
}

let modalInputs = [];

async function refreshModals() {
  let data;
  try {
    data = await api.views(state.me);
  } catch (err) {
    reportError(err);
    return;
  }
  const modals = data.modals || [];
  const dlg = $("#modal");
  const top = modals[modals.length - 1];
  if (!top) {
    state.modalKey = null;
    if (dlg.open) dlg.close();
    return;
  }
  const key = top.id + ":" + (top.hash || JSON.stringify(top.blocks).length);
  if (key === state.modalKey && dlg.open) return;
  const prior = state.modalKey && state.modalKey.startsWith(top.id + ":") ? collectValues(modalInputs) : top.state?.values;
  state.modalKey = key;
  renderModal(top, modals.length, prior, {});
  if (!dlg.open) dlg.showModal();
  (dlg.querySelector("[data-autofocus]") || dlg.querySelector("input, textarea, select, button.btn-primary") || dlg.querySelector("button"))?.focus();
}

function renderModal(view, depth, prior, errors) {
  const dlg = $("#modal");
  const ctx = blockCtx({
    surface: "modal",
    errors,
    act: (a) => api.action({ user: state.me, view_id: view.id, ...a, state: { values: collectValues(ctx.inputs) } }).catch(reportError),
  });
  const titleId = "modal-title";
  dlg.setAttribute("aria-labelledby", titleId);
  dlg.dataset.viewId = view.id;
  dlg.dataset.callbackId = view.callback_id || "";
  const form = el("form", { class: "modal-form", method: "dialog", novalidate: true });
  const closeX = el("button", { type: "button", class: "btn-icon modal-x", "aria-label": t("close"), text: "✕" });
  const head = el("div", { class: "dlg-head" }, el("h2", { id: titleId, class: "dlg-title" }, plainNodes(view.title?.text ?? "")), closeX);
  if (Object.keys(errors).length) head.append(el("p", { class: "sr-only", role: "alert", text: t("modal_error") }));
  const body = el("div", { class: "dlg-body" }, renderBlocks(withPrior(view.blocks || [], prior), ctx));
  const foot = el("div", { class: "dlg-foot" });
  const closeBtn = el("button", { type: "button", class: "btn" }, plainNodes(view.close?.text ?? t(view.submit ? "cancel" : "close")));
  foot.append(closeBtn);
  if (view.submit) foot.append(el("button", { type: "submit", class: "btn btn-primary" }, plainNodes(view.submit.text ?? t("submit"))));
  form.append(head, body, foot);
  dlg.replaceChildren(form);
  modalInputs = ctx.inputs;

  const close = async () => {
    try {
      await api.viewClosed({ user: state.me, view_id: view.id });
    } catch (err) {
      reportError(err);
    }
    await refreshModals();
  };
  closeX.addEventListener("click", close);
  closeBtn.addEventListener("click", close);
  dlg.oncancel = (e) => {
    e.preventDefault();
    close();
  };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const values = collectValues(ctx.inputs);
    const submit = form.querySelector("button[type=submit]");
    submit.disabled = true;
    submit.setAttribute("aria-busy", "true");
    try {
      const res = await api.viewSubmission({ user: state.me, view_id: view.id, values });
      if (res && res.errors && Object.keys(res.errors).length) {
        renderModal(view, depth, values, res.errors);
        dlg.querySelector("[aria-invalid=true]")?.focus();
        return;
      }
      await refreshModals();
    } catch (err) {
      reportError(err);
    } finally {
      submit.disabled = false;
      submit.removeAttribute("aria-busy");
    }
  });
}

// ------------------------------------------------------------------ composer

function setupComposer(form, input, { thread } = {}) {
  const list = form.querySelector(".cmd-list");
  const hint = form.querySelector(".cmd-hint");
  let active = -1;
  let matches = [];
  const commands = () => state.boot.commands || [];

  const renderList = () => {
    const v = input.value;
    const open = list && v.startsWith("/") && !/\s/.test(v);
    matches = open ? commands().filter((c) => c.command.startsWith(v)) : [];
    if (list) {
      list.hidden = !matches.length;
      input.setAttribute("aria-expanded", String(matches.length > 0));
      list.replaceChildren(
        ...matches.map((c, i) => {
          const li = el("li", { role: "option", id: `${list.id}-${i}`, class: "cmd" + (i === active ? " active" : ""), "aria-selected": String(i === active) });
          li.append(el("strong", { text: c.command }), " ", el("span", { class: "usage", text: c.usage_hint || "" }), el("div", { class: "desc", text: c.description || "" }));
          li.addEventListener("mousedown", (e) => {
            e.preventDefault();
            complete(i);
          });
          return li;
        }),
      );
      if (active >= 0 && matches[active]) input.setAttribute("aria-activedescendant", `${list.id}-${active}`);
      else input.removeAttribute("aria-activedescendant");
    }
    if (hint) {
      const cmd = commands().find((c) => v.startsWith(c.command + " ") || v === c.command);
      hint.textContent = cmd ? `${cmd.command} ${cmd.usage_hint || ""} — ${cmd.description || ""}` : "";
    }
  };
  const complete = (i) => {
    input.value = matches[i].command + " ";
    active = -1;
    renderList();
    input.focus();
  };
  const send = async () => {
    const text = input.value.trim();
    if (!text) return;
    const channel = thread ? state.thread?.channel : state.view?.id;
    if (!channel) return;
    input.value = "";
    renderList();
    try {
      await api.message({ user: state.me, channel, text, thread_ts: thread ? state.thread.ts : undefined });
    } catch (err) {
      input.value = text; // nothing a person typed is lost
      reportError(err);
    }
  };
  input.addEventListener("input", () => {
    active = -1;
    renderList();
  });
  input.addEventListener("keydown", (e) => {
    if (matches.length && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      active = (active + (e.key === "ArrowDown" ? 1 : -1) + matches.length) % matches.length;
      renderList();
    } else if (matches.length && (e.key === "Tab" || (e.key === "Enter" && active >= 0))) {
      e.preventDefault();
      complete(active >= 0 ? active : 0);
    } else if (matches.length && e.key === "Escape") {
      matches = [];
      list.hidden = true;
    } else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    send();
  });
}

// ------------------------------------------------------------------ tools

function setupTools() {
  for (const minutes of [15, 60, 1440]) {
    $("#advance-" + minutes).addEventListener("click", async () => {
      // One move at a time: the jobs that fall due run during the request.
      const buttons = document.querySelectorAll("[id^=advance-]");
      for (const b of buttons) b.disabled = true;
      try {
        const res = await api.clock({ advance_minutes: minutes });
        showClock(res && res.now);
        toast(t("clock_moved", t(minutes === 15 ? "quarter" : minutes === 60 ? "hour" : "day")));
      } catch (err) {
        reportError(err);
      } finally {
        for (const b of buttons) b.disabled = false;
      }
    });
  }
  $("#paste-mention").addEventListener("click", () => {
    const dlg = $("#mention-dialog");
    dlg.showModal();
    $("#mention-text").focus();
  });
  $("#mention-cancel").addEventListener("click", () => $("#mention-dialog").close());
  $("#mention-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = $("#mention-text").value.trim();
    if (!text) {
      $("#mention-text").setAttribute("aria-invalid", "true");
      $("#mention-error").textContent = t("required");
      return;
    }
    try {
      await api.mention({ text, author: $("#mention-author").value.trim() || undefined, via: $("#mention-via").value });
      $("#mention-text").value = "";
      $("#mention-text").removeAttribute("aria-invalid");
      $("#mention-error").textContent = "";
      $("#mention-dialog").close();
      toast(t("mention_sent"));
    } catch (err) {
      $("#mention-error").textContent = t("error", err.message);
    }
  });
  const langSel = $("#lang");
  langSel.replaceChildren(...LANGS.map((l) => el("option", { value: l, text: l === "fr" ? "Français" : "English" })));
  langSel.value = lang();
  langSel.addEventListener("change", () => {
    setLang(langSel.value);
    applyStaticText();
    rerenderCurrent();
  });
  $("#whoami").addEventListener("change", async (e) => {
    state.me = e.target.value;
    localStorage.setItem("vigie.sandbox.user", state.me);
    state.unread.clear();
    await loadBootstrap();
    rerenderCurrent();
    state.modalKey = null;
    refreshModals();
  });
  $("#open-home").addEventListener("click", openHome);
  $("#open-mastodon").addEventListener("click", openMastodon);
  $("#thread-close").addEventListener("click", closeThread);
  $("#thread").addEventListener("keydown", (e) => e.key === "Escape" && closeThread());
}

function showClock(now) {
  const node = $("#clock-now");
  if (!now) return;
  const d = typeof now === "number" ? new Date(now * 1000) : new Date(now);
  if (!isNaN(d)) node.textContent = t("clock_now", d.toLocaleString(lang(), { dateStyle: "medium", timeStyle: "short" }));
}

function rerenderCurrent() {
  if (!state.view || state.view.kind === "channel") {
    const first = state.view?.id && state.channels.has(state.view.id) ? state.view.id : defaultChannel();
    if (first) openChannel(first);
  } else if (state.view.kind === "home") openHome();
  else openMastodon();
  if (state.thread) refreshThread();
}

function defaultChannel() {
  const chans = [...state.channels.values()].filter((c) => !c.is_im);
  return (chans.find((c) => (c.members || []).includes(state.me)) || chans[0] || [...state.channels.values()][0])?.id;
}

// ------------------------------------------------------------------ live updates

/** Fetch the message that changed and put it in place (and in the open thread). */
async function refreshMessage(channel, ts) {
  let data;
  try {
    data = await api.replies(channel, ts, state.me);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      state.channelView?.remove(ts);
      return;
    }
    throw err;
  }
  let messages = data.messages || [];
  const changed = messages.find((m) => m.ts === ts);
  if (changed && changed.thread_ts && changed.thread_ts !== ts && messages[0]?.ts !== changed.thread_ts) {
    messages = (await api.replies(channel, changed.thread_ts, state.me)).messages || [];
  }
  const parent = messages[0];
  if (!parent) {
    state.channelView?.remove(ts);
    return;
  }
  if (state.channelView && state.channelView.channel === channel) state.channelView.upsert(parent);
  if (state.thread && state.thread.channel === channel && state.thread.ts === parent.ts) renderThread(messages);
}

async function handleChanges(changes) {
  const messages = new Map();
  let reloadChannel = false;
  let views = false;
  let home = false;
  let mastodon = false;
  for (const c of changes) {
    if (c.user && c.user !== state.me && ["ephemeral", "view", "view_closed", "home"].includes(c.kind)) continue;
    switch (c.kind) {
      case "message":
      case "update":
      case "reaction":
        if (state.view?.kind === "channel" && c.channel === state.view.id) messages.set(c.channel + "|" + c.ts, c);
        else if (state.thread && c.channel === state.thread.channel) messages.set(c.channel + "|" + c.ts, c);
        else if (c.kind === "message" && c.channel && state.channels.has(c.channel)) bumpUnread(c.channel);
        else if (c.channel && !state.channels.has(c.channel)) await loadBootstrap();
        break;
      case "delete":
        if (state.view?.kind === "channel" && c.channel === state.view.id) state.channelView?.remove(c.ts);
        if (state.thread) refreshThread();
        break;
      case "ephemeral":
        if (state.view?.kind === "channel" && c.channel === state.view.id) reloadChannel = true;
        break;
      case "view":
      case "view_closed":
        views = true;
        break;
      case "restored": // the server reloaded its saved workspace: read everything again
        await loadBootstrap();
        rerenderCurrent();
        views = true;
        break;
      case "home":
        home = true;
        break;
      case "mastodon":
        mastodon = true;
        break;
      case "clock":
        showClock(c.now);
        break;
      default:
        break;
    }
  }
  const work = [];
  if (reloadChannel && state.channelView) {
    const view = state.channelView;
    work.push(api.history(view.channel, state.me, { limit: PAGE }).then((d) => state.channelView === view && view.showNewest(d)));
  }
  for (const c of messages.values()) work.push(refreshMessage(c.channel, c.ts));
  if (views) work.push(refreshModals());
  if (home && state.view?.kind === "home") work.push(renderHome());
  if (mastodon && state.view?.kind === "mastodon") work.push(renderMastodon());
  const results = await Promise.allSettled(work);
  for (const r of results) if (r.status === "rejected") console.error(r.reason);
}

async function pollLoop() {
  let failures = 0;
  for (;;) {
    try {
      const data = await api.changes(state.cursor, 25);
      if (failures) toast(t("online"));
      failures = 0;
      document.body.dataset.connected = "true";
      state.cursor = data.cursor ?? state.cursor;
      if (data.changes && data.changes.length) await handleChanges(data.changes);
      document.body.dataset.cursor = String(state.cursor);
    } catch (err) {
      failures += 1;
      document.body.dataset.connected = "false";
      if (failures === 1) toast(t("offline"), true);
      await new Promise((r) => setTimeout(r, Math.min(5000, 500 * failures)));
    }
  }
}

// ------------------------------------------------------------------ start

async function loadBootstrap() {
  const boot = await api.bootstrap(state.me || undefined);
  state.boot = boot;
  state.users = new Map(boot.users.map((u) => [u.id, u]));
  state.channels = new Map(boot.channels.map((c) => [c.id, c]));
  if (!state.me || !state.users.has(state.me)) state.me = boot.me;
  renderSidebar();
  if (boot.team && boot.team.name) {
    const ws = document.querySelector(".workspace");
    ws.textContent = boot.team.name;
    ws.append(el("span", { class: "workspace-note", "data-i18n": "sandbox", text: t("sandbox") }));
  }
  if (boot.now) showClock(boot.now);
}

async function main() {
  const params = new URLSearchParams(location.search);
  state.me = params.get("user") || localStorage.getItem("vigie.sandbox.user");
  let boot;
  try {
    await loadBootstrap();
    boot = state.boot;
  } catch (err) {
    reportError(err);
    return;
  }
  chooseLang(boot.locale);
  applyStaticText();
  setupTools();
  setupComposer($("#composer"), $("#composer-input"));
  setupComposer($("#thread-composer"), $("#thread-input"), { thread: true });
  renderSidebar();
  if (boot.cursor !== undefined) state.cursor = boot.cursor;
  else {
    try {
      state.cursor = (await api.changes(0, 0)).cursor ?? 0;
    } catch (err) {
      reportError(err);
    }
  }
  const pane = params.get("pane");
  if (pane === "home") await openHome();
  else if (pane === "mastodon") await openMastodon();
  else {
    const ch = params.get("channel");
    const id = ch && state.channels.has(ch) ? ch : [...state.channels.values()].find((c) => c.name === ch)?.id || defaultChannel();
    if (id) await openChannel(id);
  }
  await refreshModals();
  document.body.dataset.readyMs = String(Math.round(performance.now())); // for bench/sandbox.py
  document.body.dataset.ready = "true";
  pollLoop();
}

main();
