// Block Kit → DOM, for messages, modals and the App Home. Every string goes through
// textContent (or mrkdwn.js, which does the same); interactive elements are native controls
// (button, select, input) so keyboard and screen readers work without extra code.
//
// ctx = {
//   surface: "message" | "modal" | "home",
//   userName(id), channelName(id), users: [{id, name}], channels: [{id, name}],
//   act(action) → Promise: a block_actions element fired (action carries block_id, action_id,
//     type and the value fields Slack sends: value, selected_option, selected_date…),
//   confirm(confirmObject) → Promise<boolean>,
//   inputs: [] (filled here: {block_id, action_id, read() → Slack state value} per input),
//   errors: {block_id: message},
//   fileUrl(id) → URL of an uploaded file,
// }

import { t } from "./i18n.js";
import { emojiFor, mrkdwnNodes, plainNodes, safeHref, textObjectNodes, textObjectString } from "./mrkdwn.js";

let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
export { el };

/** Render a list of layout blocks into a fragment. */
export function renderBlocks(blocks, ctx) {
  const frag = document.createDocumentFragment();
  for (const block of blocks || []) {
    try {
      frag.append(renderBlock(block, ctx));
    } catch (err) {
      console.error("block failed", block, err);
      frag.append(el("div", { class: "blk-unsupported", text: t("unsupported_block", block && block.type) }));
    }
  }
  return frag;
}

function renderBlock(block, ctx) {
  const wrap = (node) => {
    node.dataset.blockId = block.block_id ?? "";
    node.classList.add("blk");
    return node;
  };
  switch (block.type) {
    case "section":
      return wrap(section(block, ctx));
    case "context":
      return wrap(context(block, ctx));
    case "header":
      return wrap(el("h3", { class: "blk-header" }, plainNodes(block.text?.text ?? "", block.text?.emoji !== false)));
    case "divider":
      return wrap(el("hr", { class: "blk-divider" }));
    case "image":
      return wrap(imageBlock(block, ctx));
    case "actions":
      return wrap(actions(block, ctx));
    case "input":
      return wrap(input(block, ctx));
    case "rich_text":
      return wrap(richText(block, ctx));
    case "markdown":
      return wrap(el("div", { class: "blk-markdown" }, mrkdwnNodes(block.text ?? "", ctx)));
    case "file":
      return wrap(el("div", { class: "blk-file", text: block.external_id ?? block.file_id ?? "file" }));
    default:
      return wrap(el("div", { class: "blk-unsupported", text: t("unsupported_block", block.type) }));
  }
}

function section(block, ctx) {
  const body = el("div", { class: "blk-section-body" });
  if (block.text) body.append(el("div", { class: "blk-text" }, textObjectNodes(block.text, ctx)));
  if (block.fields && block.fields.length) {
    const fields = el("div", { class: "blk-fields" });
    for (const f of block.fields) fields.append(el("div", { class: "blk-field" }, textObjectNodes(f, ctx)));
    body.append(fields);
  }
  const node = el("div", { class: "blk-section" }, body);
  if (block.accessory) {
    node.append(el("div", { class: "blk-accessory" }, element(block.accessory, block.block_id, ctx, {})));
  }
  return node;
}

function context(block, ctx) {
  const node = el("div", { class: "blk-context" });
  for (const item of block.elements || []) {
    if (item.type === "image") {
      node.append(el("img", { class: "blk-context-img", src: imageSrc(item, ctx), alt: item.alt_text ?? "" }));
    } else {
      node.append(el("span", { class: "blk-context-text" }, textObjectNodes(item, ctx)));
    }
  }
  return node;
}

function imageSrc(item, ctx) {
  if (item.slack_file) {
    if (item.slack_file.id) return ctx.fileUrl(item.slack_file.id);
    return safeHref(item.slack_file.url ?? "") ?? "";
  }
  return safeHref(item.image_url ?? "") ?? "";
}

function imageBlock(block, ctx) {
  const fig = el("figure", { class: "blk-image" });
  if (block.title) fig.append(el("figcaption", {}, plainNodes(block.title.text ?? "")));
  fig.append(el("img", { src: imageSrc(block, ctx), alt: block.alt_text ?? "", loading: "lazy" }));
  return fig;
}

function actions(block, ctx) {
  const node = el("div", { class: "blk-actions", role: "group" });
  for (const item of block.elements || []) node.append(element(item, block.block_id, ctx, {}));
  return node;
}

function input(block, ctx) {
  const controlId = nextId("in");
  const errId = nextId("err");
  const hintId = block.hint ? nextId("hint") : null;
  const error = ctx.errors && ctx.errors[block.block_id];
  const node = el("div", { class: "blk-input" + (error ? " has-error" : "") });
  const labelText = textObjectString(block.label);
  const grouped = ["checkboxes", "radio_buttons"].includes(block.element?.type);
  const label = el(grouped ? "div" : "label", { class: "blk-label", id: controlId + "-label" }, labelText);
  if (!grouped) label.setAttribute("for", controlId);
  if (block.optional) label.append(el("span", { class: "optional", text: " " + t("optional") }));
  node.append(label);
  const control = element(block.element, block.block_id, ctx, {
    inInput: true,
    id: controlId,
    labelId: controlId + "-label",
    describedBy: [hintId, error ? errId : null].filter(Boolean).join(" ") || null,
    invalid: Boolean(error),
    dispatch: Boolean(block.dispatch_action),
    required: !block.optional,
  });
  node.append(control);
  if (block.hint) node.append(el("div", { class: "blk-hint", id: hintId }, plainNodes(block.hint.text ?? "")));
  node.append(el("div", { class: "blk-error", id: errId, role: error ? "alert" : null, text: error || "" }));
  return node;
}

// ------------------------------------------------------------------ elements

function element(item, blockId, ctx, opts) {
  const fire = (extra) => ctx.act({ block_id: blockId, action_id: item.action_id, type: item.type, ...extra });
  const register = (read) => {
    if (opts.inInput && ctx.inputs) ctx.inputs.push({ block_id: blockId, action_id: item.action_id, read });
  };
  const common = (node) => {
    if (opts.id) node.id = opts.id;
    if (opts.describedBy) node.setAttribute("aria-describedby", opts.describedBy);
    if (opts.invalid) node.setAttribute("aria-invalid", "true");
    return node;
  };
  // Selects and pickers fire when they are not inside an input block (Slack's rule),
  // or when the input block asks for dispatch_action.
  const firesOnChange = !opts.inInput || opts.dispatch;
  switch (item.type) {
    case "button":
      return button(item, ctx, fire);
    case "image":
      return el("img", { class: "blk-accessory-img", src: imageSrc(item, ctx), alt: item.alt_text ?? "" });
    case "overflow":
      return overflow(item, ctx, fire);
    case "static_select":
    case "external_select":
    case "users_select":
    case "conversations_select":
    case "channels_select":
      return common(select(item, ctx, fire, register, firesOnChange, opts, false));
    case "multi_static_select":
    case "multi_external_select":
    case "multi_users_select":
    case "multi_conversations_select":
    case "multi_channels_select":
      return common(select(item, ctx, fire, register, firesOnChange, opts, true));
    case "datepicker": {
      const node = common(el("input", { type: "date", class: "blk-date", value: item.initial_date }));
      labelIfAlone(node, item, opts, t("choose_date"));
      const read = () => ({ type: "datepicker", selected_date: node.value || null });
      register(read);
      if (firesOnChange) node.addEventListener("change", () => withConfirm(item, ctx, () => fire(read())));
      return node;
    }
    case "timepicker": {
      const node = common(el("input", { type: "time", class: "blk-time", value: item.initial_time }));
      labelIfAlone(node, item, opts, t("clock"));
      const read = () => ({ type: "timepicker", selected_time: node.value || null });
      register(read);
      if (firesOnChange) node.addEventListener("change", () => withConfirm(item, ctx, () => fire(read())));
      return node;
    }
    case "datetimepicker": {
      let initial;
      if (item.initial_date_time) {
        const d = new Date(item.initial_date_time * 1000);
        const pad = (n) => String(n).padStart(2, "0");
        initial = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
      }
      const node = common(el("input", { type: "datetime-local", class: "blk-datetime", value: initial }));
      labelIfAlone(node, item, opts, t("choose_date"));
      const read = () => ({
        type: "datetimepicker",
        selected_date_time: node.value ? Math.floor(new Date(node.value).getTime() / 1000) : null,
      });
      register(read);
      if (firesOnChange) node.addEventListener("change", () => fire(read()));
      return node;
    }
    case "checkboxes":
    case "radio_buttons":
      return choices(item, ctx, fire, register, firesOnChange, opts);
    case "plain_text_input":
    case "number_input":
    case "email_text_input":
    case "url_text_input": {
      const multiline = item.type === "plain_text_input" && item.multiline;
      const type = { number_input: "number", email_text_input: "email", url_text_input: "url" }[item.type] ?? "text";
      const node = common(
        multiline
          ? el("textarea", { class: "blk-textarea", rows: 4 })
          : el("input", { type, class: "blk-textinput", step: item.type === "number_input" && item.is_decimal_allowed ? "any" : null }),
      );
      node.value = item.initial_value ?? "";
      if (item.placeholder) node.placeholder = textObjectString(item.placeholder);
      if (item.max_length) node.maxLength = item.max_length;
      if (item.min_length) node.minLength = item.min_length;
      if (item.min_value !== undefined) node.min = item.min_value;
      if (item.max_value !== undefined) node.max = item.max_value;
      if (opts.required) node.setAttribute("aria-required", "true");
      if (item.focus_on_load) node.dataset.autofocus = "1";
      const read = () => ({ type: item.type, value: node.value === "" ? null : node.value });
      register(read);
      if (opts.dispatch) {
        node.addEventListener("keydown", (e) => {
          if (e.key === "Enter" && !multiline) {
            e.preventDefault();
            fire(read());
          }
        });
      }
      return node;
    }
    default:
      return el("span", { class: "blk-unsupported", text: t("unsupported_block", item.type) });
  }
}

function labelIfAlone(node, item, opts, fallback) {
  if (opts.labelId) node.setAttribute("aria-labelledby", opts.labelId);
  else node.setAttribute("aria-label", textObjectString(item.placeholder) || fallback);
}

async function withConfirm(item, ctx, run) {
  if (item.confirm && !(await ctx.confirm(item.confirm))) return;
  run();
}

function button(item, ctx, fire) {
  const cls = "btn" + (item.style === "primary" ? " btn-primary" : item.style === "danger" ? " btn-danger" : "");
  const label = plainNodes(item.text?.text ?? "", item.text?.emoji !== false);
  const href = item.url ? safeHref(item.url) : null;
  const node = href
    ? el("a", { class: cls, href, target: "_blank", rel: "noopener noreferrer" }, label)
    : el("button", { type: "button", class: cls }, label);
  if (item.accessibility_label) node.setAttribute("aria-label", item.accessibility_label);
  node.addEventListener("click", async (e) => {
    if (item.confirm && !href) {
      e.preventDefault();
      if (!(await ctx.confirm(item.confirm))) return;
    }
    if (!href) node.setAttribute("aria-busy", "true");
    try {
      await fire({ value: item.value, text: item.text });
    } finally {
      node.removeAttribute("aria-busy");
    }
  });
  return node;
}

function optionOf(o) {
  return { text: o.text, value: o.value, ...(o.description ? { description: o.description } : {}) };
}

function select(item, ctx, fire, register, firesOnChange, opts, multiple) {
  const kind = item.type.replace(/^multi_/, "");
  let options = [];
  let groups = null;
  if (kind === "users_select") {
    options = (ctx.users || []).map((u) => ({ value: u.id, text: { type: "plain_text", text: u.real_name || u.name } }));
  } else if (kind === "conversations_select" || kind === "channels_select") {
    options = (ctx.channels || [])
      .filter((c) => kind === "conversations_select" || !c.is_im)
      .map((c) => ({ value: c.id, text: { type: "plain_text", text: c.is_im ? c.name : "#" + c.name } }));
  } else if (item.option_groups) {
    groups = item.option_groups;
  } else {
    options = item.options || [];
  }
  const node = el("select", { class: "blk-select" + (multiple ? " multi" : "") });
  if (multiple) node.multiple = true;
  labelIfAlone(node, item, opts, t("select_placeholder"));
  const initialValues = new Set();
  const init = item.initial_option ? [item.initial_option] : item.initial_options || [];
  for (const o of init) initialValues.add(o.value);
  if (item.initial_user) initialValues.add(item.initial_user);
  for (const u of item.initial_users || []) initialValues.add(u);
  if (item.initial_conversation) initialValues.add(item.initial_conversation);
  if (item.initial_channel) initialValues.add(item.initial_channel);
  for (const c of item.initial_conversations || item.initial_channels || []) initialValues.add(c);
  if (!multiple) {
    const ph = el("option", { value: "" }, textObjectString(item.placeholder) || t("select_placeholder"));
    if (!initialValues.size) ph.selected = true;
    node.append(ph);
  }
  const all = [];
  const addOption = (parent, o) => {
    const opt = el("option", { value: o.value }, textObjectString(o.text));
    if (initialValues.has(o.value)) opt.selected = true;
    all.push(o);
    parent.append(opt);
  };
  if (groups) {
    for (const g of groups) {
      const og = el("optgroup", { label: textObjectString(g.label) });
      for (const o of g.options || []) addOption(og, o);
      node.append(og);
    }
  } else {
    for (const o of options) addOption(node, o);
  }
  if (multiple) node.size = Math.min(6, Math.max(3, all.length));
  const byValue = new Map(all.map((o) => [o.value, o]));
  const read = () => {
    const chosen = [...node.selectedOptions].map((o) => o.value).filter((v) => v !== "");
    if (kind === "users_select") {
      return multiple ? { type: item.type, selected_users: chosen } : { type: item.type, selected_user: chosen[0] ?? null };
    }
    if (kind === "conversations_select") {
      return multiple
        ? { type: item.type, selected_conversations: chosen }
        : { type: item.type, selected_conversation: chosen[0] ?? null };
    }
    if (kind === "channels_select") {
      return multiple ? { type: item.type, selected_channels: chosen } : { type: item.type, selected_channel: chosen[0] ?? null };
    }
    const picked = chosen.map((v) => optionOf(byValue.get(v)));
    return multiple ? { type: item.type, selected_options: picked } : { type: item.type, selected_option: picked[0] ?? null };
  };
  register(read);
  if (firesOnChange) {
    let previous = node.value;
    node.addEventListener("change", async () => {
      if (item.confirm && !(await ctx.confirm(item.confirm))) {
        node.value = previous;
        return;
      }
      previous = node.value;
      fire(read());
    });
  }
  return node;
}

function choices(item, ctx, fire, register, firesOnChange, opts) {
  const radio = item.type === "radio_buttons";
  const name = nextId("choice");
  const node = el("div", { class: "blk-choices", role: radio ? "radiogroup" : "group" });
  if (opts.labelId) node.setAttribute("aria-labelledby", opts.labelId);
  if (opts.describedBy) node.setAttribute("aria-describedby", opts.describedBy);
  if (opts.id) node.id = opts.id;
  const initial = new Set((item.initial_options || (item.initial_option ? [item.initial_option] : [])).map((o) => o.value));
  const boxes = [];
  for (const o of item.options || []) {
    const id = nextId("opt");
    const box = el("input", { type: radio ? "radio" : "checkbox", id, name, value: o.value });
    if (initial.has(o.value)) box.checked = true;
    const label = el("label", { for: id }, textObjectNodes(o.text, ctx));
    const row = el("div", { class: "blk-choice" }, box, label);
    if (o.description) row.append(el("div", { class: "blk-choice-desc" }, textObjectNodes(o.description, ctx)));
    boxes.push([box, o]);
    node.append(row);
  }
  const read = () => {
    const picked = boxes.filter(([b]) => b.checked).map(([, o]) => optionOf(o));
    return radio ? { type: item.type, selected_option: picked[0] ?? null } : { type: item.type, selected_options: picked };
  };
  register(read);
  if (firesOnChange) node.addEventListener("change", () => fire(read()));
  return node;
}

/** The "⋯" overflow menu: a button opening a role=menu list, arrow keys to move. */
function overflow(item, ctx, fire) {
  const menuId = nextId("menu");
  const trigger = el("button", {
    type: "button",
    class: "btn btn-icon",
    "aria-haspopup": "menu",
    "aria-expanded": "false",
    "aria-controls": menuId,
    "aria-label": item.accessibility_label || t("more"),
    text: "⋯",
  });
  const menu = el("ul", { class: "menu", role: "menu", id: menuId, hidden: true });
  const close = (focusTrigger) => {
    menu.hidden = true;
    trigger.setAttribute("aria-expanded", "false");
    if (focusTrigger) trigger.focus();
  };
  for (const o of item.options || []) {
    const li = el("li", { role: "menuitem", tabindex: "-1", class: "menu-item" }, plainNodes(textObjectString(o.text)));
    const choose = async () => {
      close(true);
      if (o.url && safeHref(o.url)) window.open(safeHref(o.url), "_blank", "noopener");
      if (item.confirm && !(await ctx.confirm(item.confirm))) return;
      fire({ selected_option: optionOf(o) });
    };
    li.addEventListener("click", choose);
    li.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        choose();
      }
    });
    menu.append(li);
  }
  menuKeys(menu, close);
  trigger.addEventListener("click", () => {
    const open = menu.hidden;
    menu.hidden = !open;
    trigger.setAttribute("aria-expanded", String(open));
    if (open) menu.querySelector("[role=menuitem]")?.focus();
  });
  return el("span", { class: "overflow" }, trigger, menu);
}

/** Arrow/Home/End/Escape keys and click-outside for a role=menu list. */
export function menuKeys(menu, close) {
  menu.addEventListener("keydown", (e) => {
    const items = [...menu.querySelectorAll("[role=menuitem]")];
    const i = items.indexOf(document.activeElement);
    if (e.key === "ArrowDown") items[(i + 1) % items.length]?.focus();
    else if (e.key === "ArrowUp") items[(i - 1 + items.length) % items.length]?.focus();
    else if (e.key === "Home") items[0]?.focus();
    else if (e.key === "End") items[items.length - 1]?.focus();
    else if (e.key === "Escape" || e.key === "Tab") close(e.key === "Escape");
    else return;
    if (e.key !== "Tab") e.preventDefault();
  });
  menu.addEventListener("focusout", (e) => {
    if (!menu.hidden && !menu.parentElement.contains(e.relatedTarget)) close(false);
  });
}

// ------------------------------------------------------------------ rich_text

function richText(block, ctx) {
  const node = el("div", { class: "blk-rich" });
  for (const part of block.elements || []) node.append(richPart(part, ctx));
  return node;
}

function richPart(part, ctx) {
  switch (part.type) {
    case "rich_text_section":
      return el("div", {}, ...(part.elements || []).map((e) => richInline(e, ctx)));
    case "rich_text_quote":
      return el("blockquote", { class: "md-quote" }, ...(part.elements || []).map((e) => richInline(e, ctx)));
    case "rich_text_preformatted":
      return el("pre", { class: "md-pre" }, ...(part.elements || []).map((e) => richInline(e, ctx)));
    case "rich_text_list": {
      const list = el(part.style === "ordered" ? "ol" : "ul");
      for (const item of part.elements || []) list.append(el("li", {}, richPart(item, ctx)));
      return list;
    }
    default:
      return el("span");
  }
}

function richInline(e, ctx) {
  let node;
  switch (e.type) {
    case "text":
      node = document.createTextNode(e.text ?? "");
      break;
    case "link": {
      const href = safeHref(e.url ?? "");
      node = href ? el("a", { href, target: "_blank", rel: "noopener noreferrer", text: e.text || e.url }) : document.createTextNode(e.text || "");
      break;
    }
    case "user":
      node = el("span", { class: "md-mention", text: "@" + ((ctx.userName && ctx.userName(e.user_id)) || e.user_id) });
      break;
    case "channel":
      node = el("span", { class: "md-mention", text: "#" + ((ctx.channelName && ctx.channelName(e.channel_id)) || e.channel_id) });
      break;
    case "emoji":
      node = document.createTextNode(e.unicode ? String.fromCodePoint(...e.unicode.split("-").map((h) => parseInt(h, 16))) : emojiFor(e.name) ?? `:${e.name}:`);
      break;
    default:
      node = document.createTextNode(e.text ?? "");
  }
  const s = e.style || {};
  if (s.code) node = el("code", { class: "md-code" }, node);
  if (s.bold) node = el("strong", {}, node);
  if (s.italic) node = el("em", {}, node);
  if (s.strike) node = el("s", {}, node);
  return node;
}

/** Collect the modal's state the way Slack sends it: {block_id: {action_id: value}}. */
export function collectValues(inputs) {
  const values = {};
  for (const { block_id, action_id, read } of inputs) {
    (values[block_id] ??= {})[action_id] = read();
  }
  return values;
}
