// The sandbox's browser API (see notes: sandbox-api.md). One place for URLs and errors.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.message || body.error)) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

async function call(method, path, { query, body, signal } = {}) {
  const url = new URL("/sandbox/api/" + path, location.origin);
  for (const [k, v] of Object.entries(query || {})) if (v !== undefined && v !== null) url.searchParams.set(k, v);
  const init = {
    method,
    signal,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  };
  let res;
  for (let attempt = 0; ; attempt++) {
    try {
      res = await fetch(url, init);
      break;
    } catch (err) {
      // A dropped connection: reads are retried (twice); an action is not, it could have
      // reached the bot, and doing it twice is worse than saying it failed.
      if (method !== "GET" || attempt >= 2 || (signal && signal.aborted)) {
        throw new ApiError(0, { error: "network", message: `${path}: ${err.message}` });
      }
      await new Promise((r) => setTimeout(r, 200 * (attempt + 1)));
    }
  }
  let data = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok || (data && data.ok === false && !data.errors)) throw new ApiError(res.status, data);
  return data;
}

export const api = {
  bootstrap: (user) => call("GET", "bootstrap", { query: { user } }),
  history: (channel, user, { limit, cursor } = {}) => call("GET", "history", { query: { channel, user, limit, cursor } }),
  replies: (channel, ts, user) => call("GET", "replies", { query: { channel, ts, user } }),
  views: (user) => call("GET", "views", { query: { user } }),
  changes: (since, timeout, signal) => call("GET", "changes", { query: { since, timeout }, signal }),
  mastodon: () => call("GET", "mastodon"),
  fileUrl: (id) => "/sandbox/api/files/" + encodeURIComponent(id),
  message: (body) => call("POST", "message", { body }),
  action: (body) => call("POST", "action", { body }),
  reaction: (body) => call("POST", "reaction", { body }),
  viewSubmission: (body) => call("POST", "view_submission", { body }),
  viewClosed: (body) => call("POST", "view_closed", { body }),
  shortcut: (body) => call("POST", "shortcut", { body }),
  homeOpened: (body) => call("POST", "home_opened", { body }),
  mention: (body) => call("POST", "mention", { body }),
  clock: (body) => call("POST", "clock", { body }),
};
