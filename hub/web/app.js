/*
 * app.js - the Profiles View: find anyone, see their whole story.
 *
 * Plain JavaScript against the management API (API.md):
 *   GET  /v1/profiles?q=... | ?profile_id=  search (email, phone, custom ID, installation ID,
 *                                           profile ID), 50 matches at a time ("Show more":
 *                                           ?after= the answer's next); the open profile is
 *                                           re-read every LIVE_MS, so a login, a merge, new
 *                                           attributes, new events or an erasure show without
 *                                           a reload
 *                                           (not while the tab is hidden; after a failed
 *                                           read, twice as long each time, to LIVE_MAX_MS)
 *   GET  /v1/profiles/<id>/events?before=   the events feed, newest first, cursor paging
 *   GET  /v1/profiles/<id>/history?after=   identity log (create, attach, rename, merge ...),
 *                                           oldest first, a page at a time ("Show more")
 *   POST /v1/privacy/requests               access (a file to download) and erase
 * The token is pasted once and kept in sessionStorage (this tab only).
 * The page's address names at most a profile ID (/?profile=p_...: a link
 * to share); what was searched (an email, a phone: personal data) is kept
 * in the history entry's state, never in the address, so it stays out of
 * the browser's history, bookmarks, copied links and proxy logs.
 * Data from the API is only ever put in the page as text (never as HTML),
 * each value isolated for bidi (iso, bdi) so that a direction override in it
 * (U+202E) reverses none of the text around it.
 */
"use strict";

const TOKEN_KEY = "profilehub.token";
/* What a token can be: it goes in an HTTP header, which carries no other
 * character (fetch throws on one past Latin-1, such as a dash pasted from
 * a document), and a space would end it. */
const TOKEN_RE = /^[\x21-\x7e]+$/;
const LIVE_MS = 1500;
const LIVE_MAX_MS = 30000; /* the longest wait between reads that keep failing */
const PAGE = 30;
const CATCH_UP_PAGES = 5; /* at most this many pages fetched per poll to catch up */
const REFILL_PAGES = 20;  /* at most this many pages read again to place older arrivals */
const HISTORY_PAGE = 100; /* rows of the identity history per page (the API's default) */

const $ = (id) => document.getElementById(id);
const state = {
  profile: null,      /* the open profile document (a poll replaces it as it changes) */
  gen: 0,             /* bumped when the profile is closed (another one opens, the page
                         changes): a read begun before is dropped; a poll's new document
                         of the same profile is not such a change */
  docKey: "",         /* its JSON without the events, to see when it changed */
  seen: new Set(),    /* events on the page (eventKey) */
  next: null,         /* cursor of the next older page, or null at the beginning */
  historyNext: null,  /* cursor of the identity history's next page, or null at its end */
  loading: false, historyLoading: false, polling: false, timer: null, observer: null,
  pollFails: 0,       /* reads of the open profile failed in a row (a 503, no answer) */
  pollError: "",      /* the banner the last of them showed, taken down by a read that works */
};

/* ---- small DOM helpers ------------------------------------------------ */

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

function show(id, visible) { $(id).hidden = !visible; }

/* Focus on `target` when the element that had it was hidden or removed
 * (a button that is no longer offered, a profile closed): else a keyboard
 * user is sent back to the top of the page, and a screen reader says
 * nothing.  Focus anywhere else is left where it is. */
function keepFocus(target) {
  const a = document.activeElement;
  if (a && a !== document.body && a.isConnected && a.getClientRects().length) return;
  if (!target.hasAttribute("tabindex") && !target.matches("a[href], button, input")) target.tabIndex = -1;
  target.focus();
}

/* A value from the data in a sentence: in a <bdi>, a direction override
 * it holds (U+202E, never ended) ends with it instead of reversing the rest
 * of the sentence.  In the tab's title (text only), the same is FSI ... PDI. */
const bdi = (s) => el("bdi", { text: s });
const iso = (s) => `\u2068${s}\u2069`;

/* table[key] when the table has key as its own, else undefined: a name
 * from the API such as "constructor" or "__proto__" must not find what
 * every object inherits.  The page looks every stored value up so. */
const own = (table, key) => (Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined);

/* Says `text` to a screen reader (the polite live region #status): what
 * a search found, which profile opened, good news.  The page shows the
 * same words; focus stays where it is (in the search box, to refine). */
function announce(text) {
  $("status").textContent = text.replace(/\s+/g, " ").trim();
}

let bannerTimer = null;
/* message: a string, or an array of strings and nodes (a value in a bdi) */
function banner(message, kind) {
  const b = $("banner");
  clearTimeout(bannerTimer);
  /* good news fades; errors stay until the next action */
  if (message && kind === "info") bannerTimer = setTimeout(() => banner(""), 8000);
  b.replaceChildren(...(Array.isArray(message) ? message : [message || ""]));
  b.className = "banner" + (kind === "info" ? " info" : "");
  b.setAttribute("role", kind === "info" ? "status" : "alert");
  b.hidden = !b.textContent;
  /* the banner's role changes with its kind, as it is shown: a status
   * made so is not read out; an alert is */
  if (kind === "info" && b.textContent) announce(b.textContent);
}

/* Times: short and relative on the page ("3 min ago", "12 Mar 2026"),
 * exact in the tooltip; relative texts are refreshed every TIMES_MS while
 * the page is open.  A profile may show thousands of times (one per
 * attribute): the formatters are made once (toLocaleString makes one per
 * call), a refresh writes only the texts that change, and a time past a
 * week, whose text is a date for good, is left alone. */
const DAY = 86400;
const TIMES_MS = 30000;
const FORMAT = {
  exact: new Intl.DateTimeFormat(undefined, { year: "numeric", month: "numeric", day: "numeric",
    hour: "numeric", minute: "numeric", second: "numeric" }), /* toLocaleString()'s */
  medium: new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" }),
  date: new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", year: "numeric" }),
};

function relative(d, s) {
  if (s < -60) return FORMAT.medium.format(d);
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.max(1, Math.round(s / 60))} min ago`;
  if (s < DAY) return `${Math.round(s / 3600)} h ago`;
  if (s < 7 * DAY) return `${Math.round(s / DAY)} d ago`;
  return FORMAT.date.format(d);
}

function timeEl(ts, full) {
  if (!ts) return el("span", { class: "unset", text: "never" });
  const d = new Date(ts);
  if (isNaN(d)) return el("span", { text: ts });
  const t = el("time", { datetime: ts, title: `${FORMAT.exact.format(d)} (${ts})` });
  if (full) t.dataset.full = "1";
  setTimeText(t, d);
  return t;
}

function setTimeText(t, d) {
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  let text;
  if (!t.dataset.full) text = relative(d, s);
  else text = s >= 7 * DAY || s < -60 ? FORMAT.medium.format(d) : `${relative(d, s)} · ${FORMAT.medium.format(d)}`;
  if (s >= 7 * DAY) t.dataset.fixed = "1"; /* a date from now on */
  if (t.textContent !== text) t.textContent = text;
}

function refreshTimes() {
  for (const t of document.querySelectorAll("time[datetime]:not([data-fixed])"))
    setTimeText(t, new Date(t.getAttribute("datetime")));
}

/* ---- the API ------------------------------------------------------------ */

/* isHubMessage: the message is the hub's own (its error object's), not
 * one the page made up for an answer without one (a proxy's page). */
class ApiError extends Error {
  constructor(status, message, isHubMessage) {
    super(message);
    this.status = status;
    this.isHubMessage = !!isHubMessage;
  }
}

/* JSON.parse keeps no more than a double of a number: an integer past
 * 2^53 is kept as the text sent (JSON.rawJSON, where the browser has it),
 * so it shows and stringifies as it was.  Show values with valueText. */
const keepBigIntegers = typeof JSON.rawJSON === "function"
  ? (key, v, ctx) => (typeof v === "number" && !Number.isSafeInteger(v) && ctx &&
      typeof ctx.source === "string" && /^-?[0-9]+$/.test(ctx.source) ? JSON.rawJSON(ctx.source) : v)
  : undefined;

/* A value of a document as text: a kept integer (above) is an object. */
function valueText(v) {
  return v !== null && typeof v === "object" ? JSON.stringify(v) : String(v);
}

/* The answer's JSON; with options.raw, {body, text}: the text as sent too.
 * options.token: a token to try (else the one kept). */
async function api(path, options) {
  const { raw, token: tried, ...init } = options || {};
  const token = tried || sessionStorage.getItem(TOKEN_KEY);
  const headers = { "Authorization": `Bearer ${token}` };
  if (init.body) headers["Content-Type"] = "application/json";
  let res, text = "";
  try {
    res = await fetch(path, { ...init, headers, cache: "no-store" });
    text = await res.text();
  } catch (e) {
    throw new ApiError(0, "The hub does not answer. Is it running? (retrying while this page is open)");
  }
  let body = null;
  try { body = JSON.parse(text, keepBigIntegers); } catch (e) { body = null; }
  if (!res.ok) {
    const hubMsg = body && body.error && typeof body.error.message === "string" && body.error.message;
    throw new ApiError(res.status, hubMsg || `The hub answered HTTP ${res.status}.`, !!hubMsg);
  }
  return raw ? { body, text } : body;
}

/* The text of the member `key` of the JSON object `text`, as it was sent,
 * or null.  JSON.parse keeps no more than a double of a number (an integer
 * past 2^53 changes), so what must stay as it was is cut out of the text. */
function rawMember(text, key) {
  let depth = 0, from = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      const s = i;
      for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === "\\") i++;
      if (depth === 1 && from < 0) {
        let j = i + 1;
        while (" \t\r\n".includes(text[j])) j++;
        if (text[j] === ":" && JSON.parse(text.slice(s, i + 1)) === key) { i = j; from = j + 1; }
      }
    } else if (c === "{" || c === "[") depth++;
    else if (c === "}" || c === "]" || c === ",") {
      if (depth === 1 && from >= 0) return text.slice(from, i).trim();
      if (c !== ",") depth--;
    }
  }
  return null;
}

/* A 401 or 403 says what the hub said when it said something (why no
 * token can be taken: api.tokens not set), else the page's own words.
 * banner() shows it as text. */
function handleError(err) {
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
    const why = err.isHubMessage ? err.message : "";
    sessionStorage.removeItem(TOKEN_KEY);
    /* a hub without api.tokens refuses every token, and its 403 says so */
    const noTokens = err.status === 403 && /api\.tokens is not set/.test(why);
    if (err.status === 401) banner(why || "Please paste an API token.");
    else if (noTokens) banner("The hub allows no token: api.tokens is not set in its configuration. " +
      "Set it, restart the hub, then paste one of its tokens.");
    else banner(`That token was refused: ${why || "paste one of api.tokens from the hub's configuration."}`);
    route();
    return;
  }
  banner(err && err.message ? err.message : String(err));
}

/* ---- pages ------------------------------------------------------------- */

function stopLive() {
  state.gen++;
  clearTimeout(state.timer);
  if (state.observer) state.observer.disconnect();
  /* a read of the profile closed may still be under way: its flags are its own */
  Object.assign(state, { timer: null, observer: null, profile: null, docKey: "", historyNext: null,
    loading: false, historyLoading: false, polling: false, pollFails: 0, pollError: "" });
}

function route() {
  stopLive();
  document.title = "Profiles · profilehub";
  let token = sessionStorage.getItem(TOKEN_KEY);
  if (token && !TOKEN_RE.test(token)) { /* kept by an older page */
    sessionStorage.removeItem(TOKEN_KEY);
    token = null;
  }
  for (const id of ["token-panel", "empty", "results", "profile"]) show(id, false);
  show("search", !!token);
  show("signout", !!token);
  if (!token) { show("token-panel", true); $("token").focus(); return; }
  const { profile, q, by } = pageWanted();
  if (q) $("q").value = q;
  if (profile) return openProfile(profile, by, q);
  if (q) return search(q);
  show("empty", true);
  $("q").focus();
}

/* The page's address: the profile's, or the start page's. */
const pageUrl = (profile) => (profile ? "/?profile=" + encodeURIComponent(profile) : "/");
const textOf = (v) => (typeof v === "string" ? v : "");

/* What to show: the profile the address names; the search (q) and what
 * it matched by (by) from the history entry's state, where navigate() put
 * them.  An address of an older page that held them (?q=, ?by=) is read
 * once and rewritten without them. */
function pageWanted() {
  const params = new URLSearchParams(location.search);
  const memo = history.state || {};
  const want = { profile: params.get("profile") || "", q: textOf(memo.q), by: textOf(memo.by) };
  if (params.has("q") || params.has("by")) {
    want.q = params.get("q") || want.q;
    want.by = params.get("by") || want.by;
    history.replaceState(want.q ? { q: want.q, by: want.by } : null, "", pageUrl(want.profile));
  }
  return want;
}

/* Opens { profile } and/or shows { q, by }: a new history entry, or this
 * one replaced.  Only the profile goes in the address (pageWanted). */
function navigate({ profile, q, by }, replace) {
  const memo = q ? { q, by: by || "" } : null;
  if (replace) history.replaceState(memo, "", pageUrl(profile));
  else history.pushState(memo, "", pageUrl(profile));
  route();
}

const KIND_NAMES = { custom_id: "custom ID", installation_id: "installation ID", email: "email",
  phone: "phone", profile_id: "profile ID" };
const kindName = (k) => own(KIND_NAMES, k) || k;
const personName = (p) => (p.anonymous ? "Anonymous session" : p.custom_id);

/* The results shown: the search, its next page's cursor ("Show more"
 * while there is one), and a generation a new search moves on. */
const results = { q: null, next: null, gen: 0, loading: false };

function resultItem(p, by, q) {
  const a = (p.attributes || {});
  return el("li", {}, el("a", { href: pageUrl(p.profile_id),
    onclick: (e) => { e.preventDefault(); navigate({ profile: p.profile_id, by: by.join(","), q }); } },
    el("span", { class: "who-line" }, el("strong", { text: personName(p) }),
      a.$email_address ? el("span", { class: "muted", text: a.$email_address }) : null),
    el("span", { class: "muted mono", text: p.profile_id }),
    el("span", { class: "muted" }, "last visit ", timeEl(p.last_visit))));
}

/* A page of a lookup's answer r in place of the results (or after them,
 * appending), the title counting every profile shown. */
function renderResults(q, r, append) {
  const list = $("results-list");
  if (!append) list.replaceChildren();
  for (const p of r.profiles) list.append(resultItem(p, r.matched_by || [], q));
  const n = list.children.length, how = (r.matched_by || []).map(kindName).join(" and ");
  $("results-title").replaceChildren(...(!n ? ["No profile matches “", bdi(q), "”"]
    : r.truncated ? [`More than ${n} profiles match “`, bdi(q), `” by ${how}: the first ${n}`]
      : [`${n} profiles match “`, bdi(q), `” by ${how}`]));
  $("results-hint").hidden = n > 0;
  results.q = q;
  results.next = r.next || null;
  show("results-more", !!results.next);
}

/* Values are matched as typed ("ann " is an identifier of its own); when
 * nothing matches, without the spaces around it (pasted with a value). */
async function search(q) {
  banner("");
  const gen = ++results.gen;
  try {
    let r = await api("/v1/profiles?q=" + encodeURIComponent(q));
    if (!r.profiles.length && q.trim() && q.trim() !== q) {
      const t = await api("/v1/profiles?q=" + encodeURIComponent(q.trim()));
      if (t.profiles.length) { r = t; q = q.trim(); }
    }
    if (gen !== results.gen) return; /* another search meanwhile */
    if (r.profiles.length === 1)
      return navigate({ profile: r.profiles[0].profile_id, by: r.matched_by.join(","), q }, true);
    renderResults(q, r, false);
    show("results", true);
    const hint = r.profiles.length ? "" : ` ${$("results-hint").textContent}`;
    announce(`${$("results-title").textContent}.${hint}`);
  } catch (err) { handleError(err); }
}

/* "Show more": the next page of the results, after those shown. */
async function loadMoreResults() {
  const { q, next, gen } = results;
  if (!next || results.loading) return;
  results.loading = true;
  $("results-more").disabled = true;
  try {
    const r = await api(`/v1/profiles?q=${encodeURIComponent(q)}&after=${encodeURIComponent(next)}`);
    if (results.gen !== gen || results.next !== next) return;
    const shown = $("results-list").children.length;
    renderResults(q, r, true);
    announce(`${$("results-title").textContent}.`);
    /* at the end, "Show more" goes: focus on the first profile it added */
    const first = $("results-list").children[shown];
    if (first) keepFocus(first.querySelector("a"));
  } catch (err) { handleError(err); } finally {
    results.loading = false;
    $("results-more").disabled = false;
  }
}

/* ---- one profile -------------------------------------------------------- */

function fact(dl, label, value) {
  const empty = value === null || value === undefined || value === "";
  dl.append(el("div", {}, el("dt", { text: label }),
    el("dd", empty ? { class: "unset", text: "—" } : {}, empty ? null : value)));
}

function renderSummary(p) {
  $("p-title").textContent = personName(p);
  document.title = `${iso(personName(p))} · Profiles · profilehub`;
  const badge = $("p-badge");
  badge.textContent = p.anonymous ? "anonymous" : "logged in";
  badge.className = "badge" + (p.anonymous ? " anon" : "");
  const a = p.attributes || {};
  const dl = $("p-facts");
  dl.replaceChildren();
  fact(dl, "Profile ID", el("span", { class: "mono", text: p.profile_id }));
  const names = [a.$first_name, a.$last_name].filter(Boolean);
  fact(dl, "Name", names.length ? el("span", {}, ...names.flatMap((n, i) => (i ? [" ", bdi(n)] : [bdi(n)]))) : "");
  fact(dl, "Email", a.$email_address);
  fact(dl, "Phone", a.$phone_number);
  fact(dl, "Language", a.$language);
  fact(dl, "Time zone", a.$timezone);
  fact(dl, "Region", a.$region);
  fact(dl, "Last visit", timeEl(p.last_visit, true));
  fact(dl, "First seen", timeEl(p.created_at, true));
}

/* How the profile was reached: the search that found it (by, q), or the
 * page's address when it names a profile merged into this one (asked):
 * a link kept from before a merge opened another ID without a word. */
function renderMatched(p, by, q, asked) {
  const box = $("p-matched");
  const kinds = (by || "").split(",").filter(Boolean);
  if ((!kinds.length || !q) && asked && asked !== p.profile_id) {
    box.replaceChildren("The address names “", bdi(asked), "”, an older ID of this profile, merged into it");
    box.hidden = false;
    return;
  }
  if (!kinds.length || !q) { box.hidden = true; return; }
  const older = kinds.includes("profile_id") && q !== p.profile_id ? " (an older ID of this profile, merged into it)" : "";
  box.replaceChildren(`Found by ${kinds.map(kindName).join(" and ")}: “`, bdi(q), `”${older}`);
  box.hidden = false;
}

function pill(on, yes, no) {
  return el("span", { class: on ? "yes" : "no", text: on ? yes : no });
}
const unset = (text) => el("span", { class: "unset", text });

function renderSubscriptions(p) {
  const s = p.subscriptions || {};
  const t = $("p-subs");
  t.replaceChildren();
  const row = (k, v) => t.append(el("tr", {}, el("th", { scope: "row", text: k }), el("td", {}, v)));
  const consent = (v) => (v === null || v === undefined ? unset("not set") : pill(v === "subscribed", "subscribed", "unsubscribed"));
  row("Email marketing", consent(s.email_marketing));
  const reach = (on, none) => (on ? pill(true, "reachable", "") : unset(none));
  row("Email transactional", reach(s.email_transactional, "no valid address"));
  row("SMS marketing", consent(s.sms_marketing));
  row("SMS transactional", reach(s.sms_transactional, "no valid number"));
  const names = { ios: "iOS", android: "Android", web: "Web" };
  for (const platform of ["ios", "android", "web"]) {
    const mine = (p.installations || []).filter((i) => i.platform === platform);
    let v;
    if (!mine.length) v = unset("no installation");
    else if ((s.push || []).includes(platform)) v = pill(true, "enabled", "");
    else if (mine.some((i) => i.push_enabled === false)) v = pill(false, "", "disabled");
    else v = unset("not set");
    row(`Push (${names[platform]})`, v);
  }
}

function renderPlatforms(p) {
  const box = $("p-platforms");
  box.replaceChildren();
  const list = p.installations || [];
  if (!list.length) {
    box.append(el("p", { class: "empty-note", text: "No installation holds this profile (logged out everywhere)." }));
    return;
  }
  const t = el("table", {}, el("tr", {}, el("th", { text: "Platform" }), el("th", { text: "Installation" }),
    el("th", { text: "Last seen" }), el("th", { text: "Push" })));
  const names = { ios: "iOS", android: "Android", web: "Web", server: "Server" };
  for (const i of list) {
    t.append(el("tr", {}, el("td", {}, own(names, i.platform) || unset("unknown")),
      el("td", { class: "mono v", text: i.installation_id }), el("td", {}, timeEl(i.last_seen)),
      el("td", {}, i.push_enabled === null || i.push_enabled === undefined ? unset("—") : pill(i.push_enabled, "on", "off"))));
  }
  box.append(t);
}

/* A value as text, or an array's items each isolated (bdi), ", " between. */
function attrValue(v) {
  if (!Array.isArray(v)) return valueText(v);
  if (!v.length) return "[ ]";
  return el("span", {}, ...v.flatMap((x, i) => (i ? [", ", bdi(valueText(x))] : [bdi(valueText(x))])));
}

function renderAttributes(p) {
  const meta = p.attribute_meta || {};
  const attrs = p.attributes || {};
  const fill = (table, keys, none) => {
    table.replaceChildren(el("tr", {}, el("th", { text: "Name" }), el("th", { text: "Value" })));
    if (!keys.length) table.append(el("tr", {}, el("td", { class: "empty-note", colspan: "2", text: none })));
    for (const k of keys.sort()) {
      const m = own(meta, k) || {};
      table.append(el("tr", {},
        el("td", {}, el("div", { class: "mono k", text: k }),
          el("div", { class: "type" }, m.type || typeof attrs[k], m.updated_at ? " · changed " : null,
            m.updated_at ? timeEl(m.updated_at) : null)),
        el("td", { class: "v" }, attrValue(attrs[k]))));
    }
  };
  const keys = Object.keys(attrs);
  fill($("p-native"), keys.filter((k) => k.startsWith("$")), "no native attributes yet");
  fill($("p-custom"), keys.filter((k) => !k.startsWith("$")), "no custom attributes yet");
}

function renderIdentifiers(p) {
  const box = $("p-ids");
  box.replaceChildren();
  for (const [type, values] of Object.entries(p.identifiers || {})) {
    box.append(el("div", { class: "idgroup" }, el("div", { class: "t", text: kindName(type) }),
      ...values.map((v) => el("span", { class: "chip mono", text: v }))));
  }
  if (!box.children.length) box.append(el("p", { class: "empty-note", text: "No identifier left." }));
}

/* ---- the identity history: oldest first, a page at a time ---------------- */

const HISTORY_VERBS = { create: "created with", attach: "attached", move: "moved here:",
  detach: "detached (logout):", rename: "logged in as", merge: "merged in profile", erase: "erased" };

/* A row of the history of profile `pid`: its own (profile_id is pid; a
 * move brought an installation here from other_profile_id, a detach sent
 * one to the new anonymous other_profile_id), or another profile's naming
 * it as the other one (an installation moved away from pid to profile_id,
 * or detached from profile_id into pid).  other_profile_id is gone when
 * that profile was erased. */
function historyVerb(e, pid) {
  const other = e.other_profile_id;
  if (e.profile_id === pid) {
    if (e.action === "move" && other) return `moved here from ${other}:`;
    if (e.action === "detach" && other) return `detached (logout) to ${other}:`;
    if (e.action === "merge_refused")
      return `merge refused (a cap or limit) with ${other || "a profile since erased"}, linked by`;
    return own(HISTORY_VERBS, e.action) || e.action;
  }
  const by = e.profile_id || "a profile since erased";
  if (e.action === "move") return `moved away to ${by}:`;
  if (e.action === "detach") return `detached (logout) from ${by}:`;
  if (e.action === "merge_refused") return `not merged into ${by} (a cap or limit), linked by`;
  return `${e.action} by ${by}:`;
}

/* The values of a row (an identifier, a reason) are each a bdi. */
function historyItem(e, pid) {
  const kind = e.action === "merge" || e.action === "rename" || !e.type ? "" : `${kindName(e.type)} `;
  const what = e.action === "merge" ? e.other_profile_id : e.value;
  return el("li", {}, timeEl(e.at), " · ", `${historyVerb(e, pid)} ${kind}`, what ? bdi(what) : null,
    e.reason ? el("span", { class: "muted" }, " (", bdi(e.reason), ")") : null);
}

/* The history's rows on the page (the empty note aside). */
const historyShown = () => $("p-history").querySelectorAll("li:not(.empty-note)").length;

/* A page's rows in place of the history (or after it, appending), and
 * "Show more" while its next page is to come. */
function renderHistory(pid, hist, append) {
  const h = $("p-history");
  if (!append || !historyShown()) h.replaceChildren();
  for (const e of hist.rows) h.append(historyItem(e, pid));
  if (!h.children.length) h.append(el("li", { class: "empty-note", text: "No identity changes recorded." }));
  state.historyNext = hist.next || null;
  show("p-history-more", !!state.historyNext);
}

function historyPage(pid, after) {
  return api(`/v1/profiles/${encodeURIComponent(pid)}/history?limit=${HISTORY_PAGE}` +
    (after ? `&after=${encodeURIComponent(after)}` : ""));
}

/* The history from its beginning: pages until `atLeast` rows (those shown
 * before a re-render) or its end.  {rows, next} */
async function historyFirst(pid, atLeast) {
  let rows = [], next = null;
  do {
    const r = await historyPage(pid, next);
    rows = rows.concat(r.identity_log);
    next = r.next;
  } while (next && rows.length < atLeast);
  return { rows, next };
}

/* "Show more": the next page, after the rows shown. */
async function loadMoreHistory() {
  const p = state.profile, after = state.historyNext, gen = state.gen;
  if (!p || !after || state.historyLoading) return;
  state.historyLoading = true;
  $("p-history-more").disabled = true;
  try {
    const r = await historyPage(p.profile_id, after);
    /* another profile opened, or a re-render meanwhile (the profile
     * changed) started the history over */
    if (state.gen !== gen || state.historyNext !== after) return;
    const shown = historyShown();
    renderHistory(p.profile_id, { rows: r.identity_log, next: r.next }, true);
    /* at the end, "Show more" goes: focus on the first row it added */
    const first = $("p-history").children[shown];
    if (first) keepFocus(first);
  } catch (err) { handleError(err); } finally {
    if (state.gen === gen) state.historyLoading = false;
    $("p-history-more").disabled = false;
  }
}

function renderProfile(p, hist) {
  renderSummary(p);
  renderSubscriptions(p);
  renderPlatforms(p);
  renderAttributes(p);
  renderIdentifiers(p);
  renderHistory(p.profile_id, hist, false);
  $("p-count").textContent = p.event_count === 1 ? "1 event" : `${p.event_count} events`;
  $("p-access").disabled = !personQuery(p);
  $("p-erase").disabled = !personQuery(p);
}

const docKeyOf = (p) => JSON.stringify({ ...p, events: null, event_count: null });

/* ---- the events feed ---------------------------------------------------- */

function eventKey(e) { return `${e.source}\u0000${e.message_id}\u0000${e.timestamp}`; }

/* "$screen" {name: "Home"} reads "Screen · Home" */
function eventTitle(e) {
  const p = e.properties || {};
  const views = { $screen: "Screen", $page: "Page" };
  const view = own(views, e.name);
  if (view && typeof p.name === "string" && p.name) return `${view} · ${p.name}`;
  if (e.name === "$group" && p.group_id !== undefined) return `Group · ${valueText(p.group_id)}`;
  return e.name;
}

function eventItem(e, isNew) {
  const n = Object.keys(e.properties || {}).length;
  const pre = el("div", { class: "props", hidden: "" },
    el("div", { class: "muted" }, "message_id ", el("bdi", { class: "mono", text: e.message_id }),
      " · ", el("span", { class: "mono", text: e.timestamp })),
    n ? el("pre", { text: JSON.stringify(e.properties, null, 2) }) : el("p", { class: "empty-note", text: "No properties." }));
  const head = el("button", { class: "ev", type: "button", "aria-expanded": "false",
    onclick: () => { pre.hidden = !pre.hidden; head.setAttribute("aria-expanded", String(!pre.hidden)); } },
    el("span", { class: "n", text: eventTitle(e), title: e.name }), el("span", { class: "t" }, timeEl(e.timestamp)),
    el("span", { class: "s", text: `${e.source} · ${n === 1 ? "1 property" : `${n} properties`}` }));
  const li = el("li", { class: isNew ? "new" : "" }, head, pre);
  li.dataset.ts = String(Date.parse(e.timestamp) || 0);
  li.dataset.mid = e.message_id;
  return li;
}

/* a < b (< 0), a = b (0), a > b (> 0) by code point, as the hub compares
 * message IDs (their UTF-8 bytes); JavaScript's < compares UTF-16 units, in
 * which a character past U+FFFF (an emoji: surrogates, D800-DFFF) is less
 * than one of U+E000-U+FFFF.  At the first unit that differs, surrogates
 * are put after the units above them. */
function compareCodePoints(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i), y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800 && y >= 0xd800) {
      x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
      y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
    }
    return x - y;
  }
  return a.length - b.length;
}

/* newest first: by time, then message_id (as the API orders them) */
function isNewer(ts, mid, li) {
  const lts = Number(li.dataset.ts);
  return ts !== lts ? ts > lts : compareCodePoints(mid, li.dataset.mid) > 0;
}

/* Adds the events not on the page yet, each in its place; returns how many. */
function addEvents(events, markNew) {
  const list = $("p-events");
  let added = 0;
  for (const e of events) {
    if (state.seen.has(eventKey(e))) continue;
    state.seen.add(eventKey(e));
    const item = eventItem(e, markNew);
    const ts = Number(item.dataset.ts);
    let before = null;
    for (const li of list.children) if (isNewer(ts, e.message_id, li)) { before = li; break; }
    list.insertBefore(item, before);
    added++;
  }
  $("p-events-empty").hidden = list.children.length > 0;
  return added;
}

function setMore() {
  $("p-more").textContent = state.next ? "Scroll for older events…"
    : ($("p-events").children.length ? "The beginning of this story." : "");
}

async function loadOlder() {
  if (!state.profile || !state.next || state.loading) return;
  state.loading = true;
  const gen = state.gen, before = state.next;
  let answered = false;
  try {
    const r = await eventsPage(state.profile, before);
    if (state.gen !== gen) return;
    /* the feed started over meanwhile (restartFeed): this page may not
     * follow on from it; the marker is looked at again below */
    if (state.next === before) {
      addEvents(r.events, false);
      state.next = r.next;
      setMore();
    }
    answered = true;
  } catch (err) { handleError(err); } finally { if (state.gen === gen) state.loading = false; }
  /* still in view (a tall screen, a short page, a page dropped): keep
   * going, as the observer says nothing while the marker stays in view;
   * after an error the next scroll tries again, not a loop */
  if (answered && state.gen === gen && state.next && moreVisible()) loadOlder();
}

function moreVisible() {
  const r = $("p-more").getBoundingClientRect();
  const box = $("p-events-box").getBoundingClientRect();
  return r.top < Math.min(window.innerHeight, box.bottom) + 50 && r.bottom > 0;
}

function eventsPage(p, before) {
  return api(`/v1/profiles/${encodeURIComponent(p.profile_id)}/events?limit=${PAGE}` +
    (before ? `&before=${encodeURIComponent(before)}` : ""));
}

/* New events at the top: pages from the newest until one holds a known
 * event.  Returns how many were added, or -1 when it gave up after
 * CATCH_UP_PAGES (a gap would be left below them). */
async function catchUp(p, gen) {
  let before = null, added = 0;
  for (let i = 0; i < CATCH_UP_PAGES; i++) {
    const r = await eventsPage(p, before);
    if (state.gen !== gen) return added;
    const fresh = r.events.filter((e) => !state.seen.has(eventKey(e))).length;
    added += addEvents(r.events, true);
    if (fresh < r.events.length || !r.next) return added;
    before = r.next;
  }
  return -1;
}

/* Events that arrived older than the newest shown (an offline batch, a
 * merge): the loaded part of the feed is read again, from the newest down
 * to the oldest shown, each new one put in its place.  Past REFILL_PAGES
 * the feed starts again from the newest page. */
async function refill(p, gen) {
  let before = null;
  for (let i = 0; i < REFILL_PAGES; i++) {
    const r = await eventsPage(p, before);
    if (state.gen !== gen) return;
    addEvents(r.events, true);
    const last = r.events[r.events.length - 1], oldest = $("p-events").lastElementChild;
    if (!r.next || !last || !oldest || !isNewer(Date.parse(last.timestamp) || 0, last.message_id, oldest))
      return;
    before = r.next;
  }
  await restartFeed(p, gen);
}

/* The feed from the newest page again, when the page cannot tell what it
 * misses (more new events than catchUp reads). */
async function restartFeed(p, gen) {
  const r = await eventsPage(p, null);
  if (state.gen !== gen) return;
  state.seen = new Set();
  $("p-events").replaceChildren();
  addEvents(r.events, true);
  state.next = r.next;
  setMore();
}

/* The next poll of the open profile of generation gen: LIVE_MS from now,
 * doubled by each failure in a row up to LIVE_MAX_MS; none while the tab
 * is hidden (showing it polls at once). */
function schedulePoll(gen) {
  clearTimeout(state.timer);
  state.timer = null;
  if (state.gen !== gen || !state.profile || document.hidden) return;
  state.timer = setTimeout(poll, Math.min(LIVE_MAX_MS, LIVE_MS * 2 ** state.pollFails));
}

/* Every LIVE_MS (schedulePoll): re-read the open profile.  A merge shows
 * the survivor, an erasure says so, other changes re-render, new events
 * slide in on top. */
async function poll() {
  const p = state.profile, gen = state.gen;
  if (!p || state.polling) return;
  const countBefore = p.event_count;
  state.polling = true;
  try {
    const r = await api("/v1/profiles?profile_id=" + encodeURIComponent(p.profile_id));
    if (state.gen !== gen) return;
    if (!r.profiles.length) return gone();
    const now = r.profiles[0];
    if (now.profile_id !== p.profile_id) {
      banner([`This ${p.anonymous ? "anonymous session" : "profile"} was merged into `, bdi(personName(now)),
        "'s profile: showing it."], "info");
      return navigate({ profile: now.profile_id }, true);
    }
    if (docKeyOf(now) !== state.docKey) {
      const hist = await historyFirst(now.profile_id, historyShown());
      if (state.gen !== gen) return;
      if (p.anonymous && !now.anonymous) banner(["Logged in as ", bdi(now.custom_id), "."], "info");
      state.profile = now;
      state.docKey = docKeyOf(now);
      renderProfile(now, hist);
    }
    state.profile.event_count = now.event_count;
    $("p-count").textContent = now.event_count === 1 ? "1 event" : `${now.event_count} events`;
    const top = now.events && now.events[0];
    const added = top && !state.seen.has(eventKey(top)) ? await catchUp(now, gen) : 0;
    if (state.gen !== gen) return;
    if (added < 0) await restartFeed(now, gen);
    else if (now.event_count - countBefore > added) await refill(now, gen);
    if (state.gen !== gen) return;
    const shown = $("banner").textContent;
    if (shown && (shown === state.pollError || shown.startsWith("The hub does not answer"))) banner("");
    Object.assign(state, { pollFails: 0, pollError: "" });
  } catch (err) {
    handleError(err); /* a refused token closes the profile */
    if (state.gen === gen) Object.assign(state, { pollFails: state.pollFails + 1, pollError: $("banner").textContent });
  } finally {
    if (state.gen === gen) {
      state.polling = false;
      schedulePoll(gen);
    }
  }
}

function gone() {
  stopLive();
  show("profile", false);
  show("empty", true);
  banner("This profile no longer exists (it was erased). Search again.");
  history.replaceState(null, "", "/");
  keepFocus($("q"));
}

/* ---- open, export, erase ------------------------------------------------ */

/* What a privacy request names the person by: the profile ID the page
 * shows (a merged profile's ID would take its live survivor), so that a
 * profile holding no identifier at all (a session a refused merge left
 * apart) can be downloaded and erased too. */
function personQuery(p) {
  return p ? { profile_id: p.profile_id } : null;
}

async function openProfile(id, by, q) {
  if (!$("banner").classList.contains("info")) banner("");
  const gen = state.gen;
  try {
    const r = await api("/v1/profiles?profile_id=" + encodeURIComponent(id));
    if (state.gen !== gen) return; /* the page changed meanwhile */
    if (!r.profiles.length) {
      banner(["No profile ", bdi(id), ": it may have been erased."]);
      show("empty", true);
      return;
    }
    const p = r.profiles[0];
    if (p.profile_id !== id && !by)
      history.replaceState(history.state, "", pageUrl(p.profile_id));
    const [hist, first] = await Promise.all([
      historyFirst(p.profile_id, 0),
      eventsPage(p, null),
    ]);
    if (state.gen !== gen) return;
    Object.assign(state, { profile: p, docKey: docKeyOf(p), seen: new Set(), next: first.next });
    renderMatched(p, by, q, id);
    renderProfile(p, hist);
    $("p-events").replaceChildren();
    addEvents(first.events, false);
    setMore();
    show("profile", true);
    /* with the good news kept on the banner (a merge followed), said again */
    const news = $("banner").classList.contains("info") ? `${$("banner").textContent} ` : "";
    announce(`${news}Profile of ${personName(p)} (${$("p-badge").textContent}).` +
      ($("p-matched").hidden ? "" : ` ${$("p-matched").textContent}.`));
    schedulePoll(gen);
    state.observer = new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) loadOlder(); });
    state.observer.observe($("p-more"));
  } catch (err) { handleError(err); }
}

async function downloadAccess() {
  const p = state.profile;
  const q = personQuery(p);
  if (!q) return;
  try {
    const { body: r, text } = await api("/v1/privacy/requests",
      { method: "POST", body: JSON.stringify({ type: "access", ...q }), raw: true });
    /* the document as the hub wrote it, byte for byte (never parsed and
     * written again: numbers past 2^53 would change) */
    const doc = rawMember(text, "document");
    if (doc === null) throw new Error("The hub's answer holds no access document.");
    const blob = new Blob([doc + "\n"], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: `access-${p.custom_id || p.profile_id}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    banner(`Access document downloaded (request ${r.id}).`, "info");
  } catch (err) { handleError(err); }
}

function askErase() {
  const p = state.profile;
  const word = p.anonymous ? "erase" : p.custom_id;
  $("erase-who").textContent = p.anonymous ? `this anonymous session (${p.profile_id})` : p.custom_id;
  $("erase-word").textContent = word;
  $("erase-confirm").value = "";
  $("erase-go").disabled = true;
  /* what a confirmed erase left: a close without one (Escape) keeps it */
  $("erase-dialog").returnValue = "";
  /* as shown, or without spaces around either (a custom ID may have them) */
  $("erase-confirm").oninput = () => {
    const typed = $("erase-confirm").value;
    $("erase-go").disabled = !(typed === word || (word.trim() && typed.trim() === word.trim()));
  };
  $("erase-dialog").showModal();
  $("erase-confirm").focus();
}

async function doErase() {
  const p = state.profile;
  const q = personQuery(p);
  if (!q) return;
  try {
    const r = await api("/v1/privacy/requests", { method: "POST", body: JSON.stringify({ type: "erase", ...q }) });
    stopLive();
    show("profile", false);
    show("empty", true);
    banner(["Erased ", p.anonymous ? "the anonymous session" : bdi(p.custom_id), ` (request ${r.id}). ` +
      "Its identifiers are blocked for the configured period."], "info");
    history.pushState(null, "", "/");
    keepFocus($("q"));
  } catch (err) { handleError(err); }
}

/* ---- wiring ---------------------------------------------------------------- */

/* A pasted token is tried at once (any authenticated route will do), and
 * kept once the hub has accepted it. */
$("token-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const token = $("token").value.trim();
  if (!token) return;
  if (!TOKEN_RE.test(token)) {
    banner("That is not an API token: a token is letters, digits and ASCII punctuation, without spaces. " +
      "Was a character changed on its way (a dash or a quote from a document)? Paste it from the hub's configuration.");
    $("token").focus();
    return;
  }
  banner("");
  try {
    await api("/v1/sources", { token });
    sessionStorage.setItem(TOKEN_KEY, token);
    $("token").value = "";
    route();
  } catch (err) { handleError(err); }
});
$("search").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = $("q").value;
  if (q.trim()) navigate({ q });
});
$("signout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); banner(""); navigate({}); });
$("p-access").addEventListener("click", downloadAccess);
$("p-history-more").addEventListener("click", loadMoreHistory);
$("results-more").addEventListener("click", loadMoreResults);
$("p-erase").addEventListener("click", askErase);
$("erase-cancel").addEventListener("click", () => $("erase-dialog").close("cancel"));
$("erase-dialog").addEventListener("close", () => { if ($("erase-dialog").returnValue === "erase") doErase(); });
window.addEventListener("popstate", () => { banner(""); route(); });
document.addEventListener("visibilitychange", () => {
  if (document.hidden) {
    clearTimeout(state.timer);
    state.timer = null;
  } else if (state.profile && !state.polling) poll();
});
setInterval(refreshTimes, TIMES_MS);
route();
