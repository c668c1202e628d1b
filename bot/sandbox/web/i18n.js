// The client's own strings, French and English. The language follows ?lang=, then the
// choice kept in localStorage, then the sandbox's locale, then the browser's.

const STRINGS = {
  fr: {
    app_title: "Vigie — bac à sable",
    workspace: "Rédaction (bac à sable)",
    channels: "Canaux",
    dms: "Messages directs",
    apps: "Applications",
    app_home: "Vigie — Accueil",
    mastodon: "Mastodon (local)",
    i_am: "Je suis",
    language: "Langue",
    unread: (n) => `${n} non lu${n > 1 ? "s" : ""}`,
    composer_label: (name) => `Message à ${name}`,
    composer_placeholder: (name) => `Écrire à ${name} — « / » pour les commandes`,
    reply_placeholder: "Répondre dans le fil…",
    send: "Envoyer",
    commands: "Commandes",
    thread: "Fil",
    close: "Fermer",
    cancel: "Annuler",
    submit: "Valider",
    replies: (n) => `${n} réponse${n > 1 ? "s" : ""}`,
    reply_in_thread: "Répondre dans le fil",
    message_actions: "Actions sur le message",
    add_reaction: "Ajouter une réaction",
    reaction_label: (name, n, mine) =>
      `${name} : ${n} réaction${n > 1 ? "s" : ""}${mine ? ", dont la vôtre (cliquer pour retirer)" : " (cliquer pour ajouter)"}`,
    only_you: "Visible par vous seul·e",
    edited: "(modifié)",
    download: "Télécharger",
    loading: "Chargement…",
    load_older: "Messages plus anciens",
    empty_channel: "Aucun message pour l’instant.",
    no_home: "Vigie n’a pas encore publié d’accueil.",
    no_statuses: "Vigie n’a encore rien publié sur l’instance locale.",
    in_reply_to: "En réponse à",
    clock: "Horloge",
    clock_now: (t) => `Heure de la démo : ${t}`,
    advance: "Avancer l’horloge",
    advance_by: (label) => `Avancer de ${label}`,
    minutes: "minutes",
    clock_moved: (label) => `Horloge avancée de ${label}.`,
    paste_mention: "Coller une mention",
    mention_text: "Texte de la mention",
    mention_author: "Auteur (facultatif)",
    mention_via: "Arrive par",
    via_mastodon: "Mastodon local (La Matinale) : on peut y répondre",
    via_webhook: "Webhook signé (outil de veille)",
    via_rss: "Flux RSS local",
    mention_sent: "Mention envoyée à Vigie.",
    select_placeholder: "Choisir…",
    choose_user: "Choisir une personne",
    choose_date: "Choisir une date",
    more: "Plus d’options",
    confirm: "Confirmer",
    error: (m) => `Erreur : ${m}`,
    offline: "Connexion au bac à sable perdue, nouvelle tentative…",
    online: "Reconnecté.",
    required: "Ce champ est obligatoire.",
    bot: "APP",
    modal_error: "Corrigez les champs signalés.",
    unsupported_block: (t) => `[bloc « ${t} » non affiché]`,
    hour: "1 h", day: "1 jour", quarter: "15 min",
    optional: "(facultatif)",
    sandbox: "bac à sable : rien ne sort de cette machine",
  },
  en: {
    app_title: "Vigie — sandbox",
    workspace: "Newsroom (sandbox)",
    channels: "Channels",
    dms: "Direct messages",
    apps: "Apps",
    app_home: "Vigie — Home",
    mastodon: "Mastodon (local)",
    i_am: "I am",
    language: "Language",
    unread: (n) => `${n} unread`,
    composer_label: (name) => `Message ${name}`,
    composer_placeholder: (name) => `Message ${name} — “/” for commands`,
    reply_placeholder: "Reply in thread…",
    send: "Send",
    commands: "Commands",
    thread: "Thread",
    close: "Close",
    cancel: "Cancel",
    submit: "Submit",
    replies: (n) => `${n} repl${n > 1 ? "ies" : "y"}`,
    reply_in_thread: "Reply in thread",
    message_actions: "Message actions",
    add_reaction: "Add reaction",
    reaction_label: (name, n, mine) =>
      `${name}: ${n} reaction${n > 1 ? "s" : ""}${mine ? ", including yours (click to remove)" : " (click to add)"}`,
    only_you: "Only visible to you",
    edited: "(edited)",
    download: "Download",
    loading: "Loading…",
    load_older: "Older messages",
    empty_channel: "No messages yet.",
    no_home: "Vigie has not published a Home yet.",
    no_statuses: "Vigie has not posted anything on the local instance yet.",
    in_reply_to: "In reply to",
    clock: "Clock",
    clock_now: (t) => `Demo time: ${t}`,
    advance: "Move the clock forward",
    advance_by: (label) => `Move forward by ${label}`,
    minutes: "minutes",
    clock_moved: (label) => `Clock moved forward by ${label}.`,
    paste_mention: "Paste a mention",
    mention_text: "Mention text",
    mention_author: "Author (optional)",
    mention_via: "Arrives through",
    via_mastodon: "Local Mastodon (La Matinale): can be answered there",
    via_webhook: "Signed webhook (monitoring tool)",
    via_rss: "Local RSS feed",
    mention_sent: "Mention sent to Vigie.",
    select_placeholder: "Choose…",
    choose_user: "Choose a person",
    choose_date: "Choose a date",
    more: "More options",
    confirm: "Confirm",
    error: (m) => `Error: ${m}`,
    offline: "Lost the sandbox connection, retrying…",
    online: "Reconnected.",
    required: "This field is required.",
    bot: "APP",
    modal_error: "Please fix the fields marked below.",
    unsupported_block: (t) => `[“${t}” block not shown]`,
    hour: "1 h", day: "1 day", quarter: "15 min",
    optional: "(optional)",
    sandbox: "sandbox: nothing leaves this machine",
  },
};

export const LANGS = ["fr", "en"];

let current = "fr";

/** Pick the language once at start (see the module comment for the order). */
export function chooseLang(sandboxLocale) {
  const fromUrl = new URLSearchParams(location.search).get("lang");
  const stored = localStorage.getItem("vigie.sandbox.lang");
  const candidates = [fromUrl, stored, sandboxLocale, navigator.language];
  for (const c of candidates) {
    const short = (c || "").slice(0, 2).toLowerCase();
    if (LANGS.includes(short)) {
      current = short;
      break;
    }
  }
  document.documentElement.lang = current;
  return current;
}

export function setLang(lang) {
  if (!LANGS.includes(lang)) return;
  current = lang;
  localStorage.setItem("vigie.sandbox.lang", lang);
  document.documentElement.lang = lang;
}

export function lang() {
  return current;
}

/** t("key", ...args): the string (or the string function applied to args). */
export function t(key, ...args) {
  const entry = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return typeof entry === "function" ? entry(...args) : entry;
}
