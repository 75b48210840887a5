/*
 * app.js - the Profiles View: find anyone, see their whole story.
 *
 * Plain JavaScript against the management API (API.md):
 *   GET  /v1/profiles?q=...                 search (email, custom ID, installation ID, profile ID)
 *   GET  /v1/profiles/<id>/events?before=   the events feed, newest first, cursor paging
 *   GET  /v1/profiles/<id>/history          identity log (attach, move, merge ...)
 *   POST /v1/privacy/requests               access (a file to download) and erase
 * The token is pasted once and kept in sessionStorage (this tab only).
 * Data from the API is only ever put in the page as text (never as HTML).
 */
"use strict";

const TOKEN_KEY = "profilehub.token";
const LIVE_MS = 1500;
const PAGE = 30;

const $ = (id) => document.getElementById(id);
const state = { profile: null, seen: new Set(), next: null, loading: false, timer: null, observer: null };

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

function banner(message, kind) {
  const b = $("banner");
  b.textContent = message || "";
  b.className = "banner" + (kind === "info" ? " info" : "");
  b.hidden = !message;
}

function when(ts) {
  if (!ts) return "never";
  const d = new Date(ts);
  if (isNaN(d)) return ts;
  const s = Math.round((Date.now() - d.getTime()) / 1000);
  const rel = s < 60 ? "just now" : s < 3600 ? `${Math.floor(s / 60)} min ago`
    : s < 86400 ? `${Math.floor(s / 3600)} h ago` : `${Math.floor(s / 86400)} d ago`;
  return `${d.toLocaleString()} (${rel})`;
}

/* ---- the API ------------------------------------------------------------ */

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const res = await fetch(path, {
    ...(options || {}),
    headers: { "Authorization": `Bearer ${token}`, "Content-Type": "application/json" },
  });
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const msg = body && body.error ? body.error.message : `HTTP ${res.status}`;
    throw new ApiError(res.status, msg);
  }
  return body;
}

function handleError(err) {
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
    sessionStorage.removeItem(TOKEN_KEY);
    banner(err.status === 401 ? "Please paste an API token." : "That token was refused.");
    return route();
  }
  banner(err.message || String(err));
}

/* ---- pages ------------------------------------------------------------- */

function stopLive() {
  if (state.timer) clearInterval(state.timer);
  if (state.observer) state.observer.disconnect();
  state.timer = null;
  state.observer = null;
}

function route() {
  stopLive();
  const token = sessionStorage.getItem(TOKEN_KEY);
  for (const id of ["token-panel", "empty", "results", "profile"]) show(id, false);
  show("search", !!token);
  show("signout", !!token);
  if (!token) { show("token-panel", true); $("token").focus(); return; }
  const params = new URLSearchParams(location.search);
  if (params.get("profile")) return openProfile(params.get("profile"));
  if (params.get("q")) { $("q").value = params.get("q"); return search(params.get("q")); }
  show("empty", true);
  $("q").focus();
}

function navigate(query) {
  history.pushState(null, "", "/?" + new URLSearchParams(query).toString());
  route();
}

async function search(q) {
  banner("");
  try {
    const r = await api("/v1/profiles?q=" + encodeURIComponent(q));
    const how = (r.matched_by || []).map((m) => m.replace("_", " ")).join(", ");
    if (r.profiles.length === 1) return navigate({ profile: r.profiles[0].profile_id });
    const list = $("results-list");
    list.replaceChildren();
    $("results-title").textContent = r.profiles.length
      ? `${r.profiles.length} profiles match by ${how}`
      : `No profile matches “${q}”`;
    for (const p of r.profiles) {
      list.append(el("li", {}, el("a", { href: "/?profile=" + encodeURIComponent(p.profile_id),
        onclick: (e) => { e.preventDefault(); navigate({ profile: p.profile_id }); } },
        el("span", {}, p.anonymous ? "Anonymous session" : p.custom_id),
        el("span", { class: "muted mono" }, p.profile_id),
        el("span", { class: "muted" }, "last visit " + when(p.last_visit)))));
    }
    show("results", true);
  } catch (err) { handleError(err); }
}

/* ---- one profile -------------------------------------------------------- */

function fact(dl, label, value) {
  dl.append(el("dt", { text: label }), el("dd", { text: value === null || value === undefined || value === "" ? "—" : value }));
}

function renderSummary(p) {
  $("p-title").textContent = p.anonymous ? "Anonymous session" : p.custom_id;
  const badge = $("p-badge");
  badge.textContent = p.anonymous ? "anonymous" : "logged in";
  badge.className = "badge" + (p.anonymous ? " anon" : "");
  const a = p.attributes || {};
  const dl = $("p-facts");
  dl.replaceChildren();
  fact(dl, "Profile ID", p.profile_id);
  fact(dl, "Name", [a.$first_name, a.$last_name].filter(Boolean).join(" "));
  fact(dl, "Email", a.$email_address);
  fact(dl, "Phone", a.$phone_number);
  fact(dl, "Language", a.$language);
  fact(dl, "Time zone", a.$timezone);
  fact(dl, "Region", a.$region);
  fact(dl, "Last visit", when(p.last_visit));
  fact(dl, "First seen", when(p.created_at));
}

function yesNo(v, label) {
  if (v === null || v === undefined) return el("span", { class: "unset", text: "not set" });
  const on = v === true || v === "subscribed";
  return el("span", { class: on ? "yes" : "no", text: label || (on ? "subscribed" : "unsubscribed") });
}

function renderSubscriptions(p) {
  const s = p.subscriptions || {};
  const t = $("p-subs");
  t.replaceChildren();
  const row = (k, v) => t.append(el("tr", {}, el("td", { text: k }), el("td", {}, v)));
  row("Email marketing", yesNo(s.email_marketing));
  row("Email transactional", yesNo(s.email_transactional, s.email_transactional ? "reachable" : "no valid address"));
  row("SMS marketing", yesNo(s.sms_marketing));
  row("SMS transactional", yesNo(s.sms_transactional, s.sms_transactional ? "reachable" : "no valid number"));
  for (const platform of ["ios", "android", "web"]) {
    const has = (p.installations || []).some((i) => i.platform === platform);
    const on = (s.push || []).includes(platform);
    row(`Push (${platform})`, has ? yesNo(on, on ? "enabled" : "disabled") : el("span", { class: "unset", text: "no installation" }));
  }
}

function renderPlatforms(p) {
  const box = $("p-platforms");
  box.replaceChildren();
  const list = p.installations || [];
  if (!list.length) { box.append(el("p", { class: "muted", text: "No installation holds this profile (logged out everywhere)." })); return; }
  const t = el("table", {}, el("tr", {}, el("th", { text: "Platform" }), el("th", { text: "Installation" }),
    el("th", { text: "Last seen" }), el("th", { text: "Push" })));
  const names = { ios: "iOS", android: "Android", web: "Web", server: "Server" };
  for (const i of list) {
    t.append(el("tr", {}, el("td", { text: names[i.platform] || "unknown" }),
      el("td", { class: "mono v", text: i.installation_id }), el("td", { text: when(i.last_seen) }),
      el("td", {}, i.push_enabled === null ? el("span", { class: "unset", text: "—" }) : yesNo(i.push_enabled, i.push_enabled ? "on" : "off"))));
  }
  box.append(t);
}

function renderAttributes(p) {
  const meta = p.attribute_meta || {};
  const fill = (table, keys) => {
    table.replaceChildren(el("tr", {}, el("th", { text: "Name" }), el("th", { text: "Value" }), el("th", { text: "Updated" })));
    if (!keys.length) table.append(el("tr", {}, el("td", { class: "muted", colspan: "3", text: "none" })));
    for (const k of keys.sort()) {
      const v = p.attributes[k];
      const m = meta[k] || {};
      table.append(el("tr", {}, el("td", {}, el("div", { class: "mono", text: k }), el("div", { class: "type", text: m.type || typeof v })),
        el("td", { class: "v", text: Array.isArray(v) ? v.join(", ") || "[]" : String(v) }),
        el("td", { class: "muted", text: m.updated_at ? when(m.updated_at) : "" })));
    }
  };
  const keys = Object.keys(p.attributes || {});
  fill($("p-native"), keys.filter((k) => k.startsWith("$")));
  fill($("p-custom"), keys.filter((k) => !k.startsWith("$")));
}

function renderIdentifiers(p, log) {
  const box = $("p-ids");
  box.replaceChildren();
  for (const [type, values] of Object.entries(p.identifiers || {})) {
    box.append(el("div", { class: "idgroup" }, el("div", { class: "t", text: type }),
      ...values.map((v) => el("span", { class: "chip mono", text: v }))));
  }
  const h = $("p-history");
  h.replaceChildren();
  const verbs = { create: "created", attach: "attached", move: "moved here", detach: "detached (logout)",
    rename: "logged in as", merge: "merged in profile", erase: "erased" };
  for (const e of log || []) {
    const what = e.action === "merge" ? e.other_profile_id : [e.type, e.value].filter(Boolean).join(" ");
    h.append(el("li", {}, el("span", { class: "muted", text: when(e.at) + " · " }),
      `${verbs[e.action] || e.action} ${what || ""}`, e.reason ? el("span", { class: "muted", text: ` (${e.reason})` }) : null));
  }
  if (!h.children.length) h.append(el("li", { class: "muted", text: "no identity changes recorded" }));
  if ((p.merged_from || []).length)
    h.append(el("li", { text: "absorbed: " + p.merged_from.join(", ") }));
}

/* ---- the events feed ---------------------------------------------------- */

function eventKey(e) { return `${e.source}\u0000${e.message_id}\u0000${e.timestamp}`; }

function eventItem(e, isNew) {
  const pre = el("pre", { hidden: "" }, JSON.stringify(e.properties || {}, null, 2));
  const head = el("button", { class: "ev", type: "button", "aria-expanded": "false",
    onclick: () => { pre.hidden = !pre.hidden; head.setAttribute("aria-expanded", String(!pre.hidden)); } },
    el("span", { class: "n", text: e.name }), el("span", { class: "t", text: when(e.timestamp) }),
    el("span", { class: "s", text: `${e.source} · ${e.message_id}` }));
  return el("li", { class: isNew ? "new" : "" }, head, pre);
}

function addEvents(events, atTop) {
  const list = $("p-events");
  const fresh = events.filter((e) => !state.seen.has(eventKey(e)));
  for (const e of fresh) state.seen.add(eventKey(e));
  if (atTop) {
    for (const e of fresh.slice().reverse()) list.prepend(eventItem(e, true));
  } else {
    for (const e of fresh) list.append(eventItem(e, false));
  }
  return fresh.length;
}

async function loadOlder() {
  if (!state.profile || !state.next || state.loading) return;
  state.loading = true;
  try {
    const id = encodeURIComponent(state.profile.profile_id);
    const r = await api(`/v1/profiles/${id}/events?limit=${PAGE}&before=${encodeURIComponent(state.next)}`);
    addEvents(r.events, false);
    state.next = r.next;
    $("p-more").textContent = state.next ? "scroll for older events" : "the beginning of this story";
  } catch (err) { handleError(err); }
  state.loading = false;
}

async function pollNew() {
  if (!state.profile) return;
  try {
    const id = encodeURIComponent(state.profile.profile_id);
    const r = await api(`/v1/profiles/${id}/events?limit=${PAGE}`);
    const n = addEvents(r.events, true);
    if (n) {
      state.count += n;
      $("p-count").textContent = `${state.count} in all`;
    }
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      stopLive();
      banner("This profile is gone (erased or merged). Search again.");
    } else handleError(err);
  }
}

/* ---- open, export, erase ------------------------------------------------ */

function personQuery(p) {
  if (!p.anonymous) return { custom_id: p.custom_id };
  const i = (p.identifiers || {}).installation_id;
  return i && i.length ? { installation_id: i[0] } : null;
}

async function openProfile(id) {
  banner("");
  try {
    const r = await api("/v1/profiles?profile_id=" + encodeURIComponent(id));
    if (!r.profiles.length) { banner(`No profile ${id}.`); show("empty", true); return; }
    const p = r.profiles[0];
    if (p.profile_id !== id) history.replaceState(null, "", "/?profile=" + encodeURIComponent(p.profile_id));
    const hist = await api(`/v1/profiles/${encodeURIComponent(p.profile_id)}/history`);
    Object.assign(state, { profile: p, seen: new Set(), next: null, count: p.event_count });
    renderSummary(p);
    renderSubscriptions(p);
    renderPlatforms(p);
    renderAttributes(p);
    renderIdentifiers(p, hist.identity_log);
    $("p-events").replaceChildren();
    $("p-count").textContent = `${p.event_count} in all`;
    const first = await api(`/v1/profiles/${encodeURIComponent(p.profile_id)}/events?limit=${PAGE}`);
    addEvents(first.events, false);
    state.next = first.next;
    $("p-more").textContent = state.next ? "scroll for older events" : (p.event_count ? "the beginning of this story" : "no events yet");
    $("p-erase").disabled = !personQuery(p);
    $("p-access").disabled = !personQuery(p);
    show("profile", true);
    state.timer = setInterval(pollNew, LIVE_MS);
    state.observer = new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting)) loadOlder(); });
    state.observer.observe($("p-more"));
  } catch (err) { handleError(err); }
}

async function downloadAccess() {
  const q = personQuery(state.profile);
  try {
    const r = await api("/v1/privacy/requests", { method: "POST", body: JSON.stringify({ type: "access", ...q }) });
    const blob = new Blob([JSON.stringify(r.document, null, 2)], { type: "application/json" });
    const a = el("a", { href: URL.createObjectURL(blob), download: `access-${state.profile.profile_id}.json` });
    document.body.append(a);
    a.click();
    a.remove();
    banner("Access document downloaded.", "info");
  } catch (err) { handleError(err); }
}

function askErase() {
  const p = state.profile;
  const word = p.anonymous ? "erase" : p.custom_id;
  $("erase-word").textContent = word;
  $("erase-confirm").value = "";
  $("erase-go").disabled = true;
  $("erase-confirm").oninput = () => { $("erase-go").disabled = $("erase-confirm").value !== word; };
  $("erase-dialog").showModal();
}

async function doErase() {
  const q = personQuery(state.profile);
  try {
    await api("/v1/privacy/requests", { method: "POST", body: JSON.stringify({ type: "erase", ...q }) });
    stopLive();
    state.profile = null;
    show("profile", false);
    show("empty", true);
    banner("Erased. Its identifiers are blocked for the configured period.", "info");
    history.pushState(null, "", "/");
  } catch (err) { handleError(err); }
}

/* ---- wiring ---------------------------------------------------------------- */

$("token-form").addEventListener("submit", (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value.trim());
  $("token").value = "";
  banner("");
  route();
});
$("search").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = $("q").value.trim();
  if (q) navigate({ q });
});
$("signout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); navigate({}); });
$("p-access").addEventListener("click", downloadAccess);
$("p-erase").addEventListener("click", askErase);
$("erase-dialog").addEventListener("close", () => { if ($("erase-dialog").returnValue === "erase") doErase(); });
window.addEventListener("popstate", route);
route();
