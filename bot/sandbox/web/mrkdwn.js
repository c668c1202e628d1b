// Slack mrkdwn → DOM nodes. Why hand-written: Slack's dialect is small and differs from
// Markdown (single * for bold, <url|text> links, <@U> mentions); and building nodes with
// textContent means untrusted text can never become markup (no innerHTML anywhere).

export const EMOJI = {
  white_check_mark: "✅", heavy_check_mark: "✔️", ballot_box_with_check: "☑️", x: "❌",
  warning: "⚠️", rotating_light: "🚨", red_circle: "🔴", large_green_circle: "🟢",
  large_blue_circle: "🔵", large_yellow_circle: "🟡", large_orange_circle: "🟠",
  white_circle: "⚪", black_circle: "⚫", speech_balloon: "💬", thread: "🧵",
  small_red_triangle: "🔺", small_red_triangle_down: "🔻", no_entry_sign: "🚫", no_entry: "⛔",
  memory: "🧠", lock: "🔒", unlock: "🔓", hourglass: "⌛", hourglass_flowing_sand: "⏳",
  bird: "🐦", arrow_right_hook: "↪️", leftwards_arrow_with_hook: "↩️", arrow_right: "➡️",
  arrow_left: "⬅️", tv: "📺", triangular_flag_on_post: "🚩", tada: "🎉", stopwatch: "⏱️",
  alarm_clock: "⏰", star: "⭐", rocket: "🚀", newspaper: "📰", money_with_wings: "💸",
  memo: "📝", pencil: "📝", pencil2: "✏️", mega: "📣", loudspeaker: "📢", globe_with_meridians: "🌐",
  eye: "👁️", eyes: "👀", elephant: "🐘", double_vertical_bar: "⏸️", chart_with_upwards_trend: "📈",
  chart_with_downwards_trend: "📉", bar_chart: "📊", camera: "📷", butterfly: "🦋",
  bust_in_silhouette: "👤", busts_in_silhouette: "👥", blue_book: "📘", calendar: "📆",
  date: "📅", spiral_calendar_pad: "🗓️", "+1": "👍", thumbsup: "👍", "-1": "👎", thumbsdown: "👎",
  heart: "❤️", broken_heart: "💔", fire: "🔥", bell: "🔔", no_bell: "🔕", pushpin: "📌",
  link: "🔗", raised_hand: "✋", wave: "👋", sparkles: "✨", bulb: "💡", question: "❓",
  grey_question: "❔", exclamation: "❗", heavy_plus_sign: "➕", heavy_minus_sign: "➖",
  repeat: "🔁", arrows_counterclockwise: "🔄", inbox_tray: "📥", outbox_tray: "📤",
  envelope: "✉️", email: "📧", robot_face: "🤖", mag: "🔍", mag_right: "🔎", shield: "🛡️",
  angry: "😠", rage: "😡", slightly_smiling_face: "🙂", smile: "😄", neutral_face: "😐",
  disappointed: "😞", thinking_face: "🤔", clipboard: "📋", page_facing_up: "📄",
  paperclip: "📎", gear: "⚙️", zzz: "💤", sos: "🆘", point_right: "👉", information_source: "ℹ️",
  clap: "👏", ok_hand: "👌", pray: "🙏", muscle: "💪", trophy: "🏆", label: "🏷️", key: "🔑",
  package: "📦", iphone: "📱", frame_with_picture: "🖼️", speaking_head_in_silhouette: "🗣️",
  hammer_and_wrench: "🛠️", see_no_evil: "🙈", skull: "💀", hourglass_done: "⌛",
  heavy_exclamation_mark: "❗", ok: "🆗", new: "🆕", calling: "📲", satellite: "📡",
};

/** The character for a shortcode name (without colons), or null when unknown. */
export function emojiFor(name) {
  const base = name.replace(/::skin-tone-\d$/, "");
  return Object.prototype.hasOwnProperty.call(EMOJI, base) ? EMOJI[base] : null;
}

/** Slack escapes &, < and > in message text; undo it for display (textContent re-escapes). */
export function decodeEntities(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

const SAFE_URL = /^(https?:|mailto:|tel:|\/)/i;

/** Only schemes a person expects to follow; anything else (javascript:, data:) stays text. */
export function safeHref(url) {
  return SAFE_URL.test(url.trim()) ? url.trim() : null;
}

/** Plain text, with :shortcodes: shown as emoji when `emoji` is not false. */
export function plainNodes(text, emoji = true) {
  const frag = document.createDocumentFragment();
  frag.append(emoji ? replaceShortcodes(text) : text);
  return frag;
}

function replaceShortcodes(text) {
  return text.replace(/:([a-z0-9_+\-']+(?:::skin-tone-\d)?):/g, (whole, name) => emojiFor(name) ?? whole);
}

// Inline tokens, tried in order at each position. Bold/italic/strike need a non-word
// boundary outside and non-space inside, as Slack does ("2*3*4" stays as typed).
const INLINE = new RegExp(
  [
    "(`[^`\\n]+`)", // 1 inline code
    "(<[^<>\\n]+>)", // 2 link / mention / special
    "((?<![\\w*])\\*(?=\\S)[^*\\n]*?\\S?\\*(?![\\w*]))", // 3 bold
    "((?<![\\w_])_(?=\\S)[^_\\n]*?\\S?_(?![\\w_]))", // 4 italic
    "((?<![\\w~])~(?=\\S)[^~\\n]*?\\S?~(?![\\w~]))", // 5 strike
  ].join("|"),
  "g",
);

/**
 * Render Slack mrkdwn into a DocumentFragment.
 * ctx: {userName(id) → string|null, channelName(id) → string|null}
 */
export function mrkdwnNodes(text, ctx = {}) {
  const frag = document.createDocumentFragment();
  if (!text) return frag;
  const parts = String(text).split(/```/);
  parts.forEach((part, i) => {
    if (i % 2 === 1 && i < parts.length - 1) {
      const pre = document.createElement("pre");
      pre.className = "md-pre";
      pre.textContent = decodeEntities(part.replace(/^\n/, ""));
      frag.append(pre);
    } else {
      blockNodes(i % 2 === 1 ? "```" + part : part, frag, ctx);
    }
  });
  return frag;
}

function blockNodes(text, parent, ctx) {
  const lines = text.split("\n");
  let quote = null;
  lines.forEach((line, index) => {
    const m = /^(?:&gt;|>)\s?(.*)$/.exec(line);
    if (m) {
      if (!quote) {
        quote = document.createElement("blockquote");
        quote.className = "md-quote";
        parent.append(quote);
      } else {
        quote.append(document.createElement("br"));
      }
      inlineNodes(m[1], quote, ctx);
      return;
    }
    quote = null;
    if (index > 0 && !(index > 0 && /^(?:&gt;|>)/.test(lines[index - 1]))) {
      parent.append(document.createElement("br"));
    }
    inlineNodes(line, parent, ctx);
  });
}

function inlineNodes(text, parent, ctx) {
  let last = 0;
  const re = new RegExp(INLINE.source, "g"); // own lastIndex: this function recurses
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > last) parent.append(replaceShortcodes(decodeEntities(text.slice(last, m.index))));
    const token = m[0];
    if (m[1]) {
      const code = document.createElement("code");
      code.className = "md-code";
      code.textContent = decodeEntities(token.slice(1, -1));
      parent.append(code);
    } else if (m[2]) {
      parent.append(angleNode(token.slice(1, -1), ctx));
    } else {
      const tag = m[3] ? "strong" : m[4] ? "em" : "s";
      const el = document.createElement(tag);
      inlineNodes(token.slice(1, -1), el, ctx);
      parent.append(el);
    }
    last = m.index + token.length;
  }
  if (last < text.length) parent.append(replaceShortcodes(decodeEntities(text.slice(last))));
}

function angleNode(inner, ctx) {
  const bar = inner.indexOf("|");
  const target = bar >= 0 ? inner.slice(0, bar) : inner;
  const label = bar >= 0 ? inner.slice(bar + 1) : null;
  const span = (cls, txt) => {
    const el = document.createElement("span");
    el.className = cls;
    el.textContent = txt;
    return el;
  };
  if (target.startsWith("@")) {
    const id = target.slice(1);
    const name = (ctx.userName && ctx.userName(id)) || label || id;
    return span("md-mention", "@" + name);
  }
  if (target.startsWith("#")) {
    const id = target.slice(1);
    const name = (ctx.channelName && ctx.channelName(id)) || label || id;
    return span("md-mention md-channel", "#" + name);
  }
  if (target.startsWith("!")) {
    const special = target.slice(1);
    if (special.startsWith("date^")) return document.createTextNode(decodeEntities(label ?? ""));
    if (special.startsWith("subteam^")) return span("md-mention", decodeEntities(label ?? "@group"));
    return span("md-mention", "@" + special);
  }
  const href = safeHref(decodeEntities(target));
  const text = decodeEntities(label ?? target);
  if (!href) return document.createTextNode(text);
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  a.target = "_blank";
  a.rel = "noopener noreferrer";
  return a;
}

/** A Slack text object (plain_text or mrkdwn) as nodes. */
export function textObjectNodes(obj, ctx) {
  if (!obj) return document.createDocumentFragment();
  if (typeof obj === "string") return mrkdwnNodes(obj, ctx);
  if (obj.type === "plain_text") return plainNodes(obj.text ?? "", obj.emoji !== false);
  return mrkdwnNodes(obj.text ?? "", ctx);
}

/** A text object flattened to a string (for labels, aria, option text). */
export function textObjectString(obj) {
  if (!obj) return "";
  if (typeof obj === "string") return obj;
  const t = obj.text ?? "";
  return obj.type === "plain_text" ? replaceShortcodes(t) : replaceShortcodes(decodeEntities(t));
}
