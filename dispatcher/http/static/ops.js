// The operations page: login, the live board over server-sent events (GET /v1/events),
// the campaign list, and the page routes (#/, #/new, #/c/ID, #/dead, #/unknown, ...).
"use strict";
const SECTIONS = ["login", "list", "new", "detail", "dead", "unknown", "optouts", "keys"];
const RESTING_STATES = new Set(["done", "canceled"]);
let board = { campaigns: [] };
let source = null;
let shown = "";

function show(id) {
  for (const s of SECTIONS) $(s).hidden = s !== id;
  for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("here", a.dataset.nav === id);
}

// Gateway-taken and ended-unsent shares of a campaign, in %: what was sent, not just handled.
function shares(c) {
  const f = funnel(c);
  const pct = (n) => (f.messages ? (100 * n) / f.messages : 0);
  return { sent: pct(f.totals.sent), ended: pct(f.totals.ended), handled: c.messages ? Math.floor((100 * c.done_sending) / c.messages) : 0 };
}

function progressCell(c) {
  const s = shares(c);
  const bar = el("div", { className: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
    "aria-valuenow": String(s.handled), dataset: { testid: "progress-" + c.campaign },
    title: `${s.sent.toFixed(1)}% sent to a gateway, ${s.ended.toFixed(1)}% ended unsent` });
  bar.append(el("div", { className: "seg sent", style: `width:${s.sent}%` }),
    el("div", { className: "seg ended", style: `width:${s.ended}%` }));
  const label = `${Math.floor(s.sent)}% sent` + (s.ended >= 1 ? `, ${Math.floor(s.ended)}% not` : "");
  return el("td", {}, bar, " ", label);
}

function renderList() {
  const state = $("filter-state").value;
  const text = $("filter-text").value.trim().toLowerCase();
  const rows = [];
  for (const c of board.campaigns) {
    if (state && c.state !== state) continue;
    if (text && !c.campaign.toLowerCase().includes(text)) continue;
    const top = (c.top_errors || [])[0];
    const moving = c.state === "sending";
    rows.push(el("tr", { dataset: { testid: "row-" + c.campaign } },
      el("td", {}, el("a", { href: "#/c/" + encodeURIComponent(c.campaign) }, c.campaign),
        c.kind && PSEUDO_KINDS.has(c.kind) ? el("span", { className: "muted" }, ` (${c.kind})`) : ""),
      el("td", {}, el("span", { className: "state " + c.state }, c.state)),
      progressCell(c),
      el("td", { className: "n" }, moving ? String(c.sent_per_s) : "–"),
      el("td", { className: "n" }, num(c.messages)),
      el("td", { className: "n" }, num(c.counts.delivered || 0)),
      el("td", {}, top ? `${top.status}: ${top.error_name || top.error || "no code"} (${num(top.count)})` : "–"),
      el("td", {}, latency(c.dlr_latency))));
  }
  $("rows").replaceChildren(...rows);
  $("list-empty").hidden = rows.length > 0;
}

function latency(d) {
  if (!d || !d.count) return "–";
  const s = (v) => (v === null ? "over a day" : v + " s");
  return `${s(d.p50_s)} / ${s(d.p95_s)}`;
}

// What the page shows for the hash; `fresh`: the section was just opened (load its data).
function route() {
  const hash = location.hash || "#/";
  const m = hash.match(/^#\/c\/(.+)$/);
  const id = m ? "detail" : { "#/new": "new", "#/dead": "dead", "#/unknown": "unknown",
    "#/optouts": "optouts", "#/keys": "keys" }[hash] || "list";
  const fresh = shown !== hash;
  shown = hash;
  show(id);
  if (id === "detail") openCampaign(decodeURIComponent(m[1]));
  else if (id === "list") renderList();
  else if (id === "unknown" && (fresh || !$("unknown-campaign").value)) loadUnknown();
  else if (fresh && id === "dead") loadDead();
  else if (fresh && id === "optouts") loadOptouts();
  else if (fresh && id === "keys") { $("key-shown").hidden = true; $("key-value").textContent = ""; loadKeys(); }
}

// A board tick: refresh what is on screen (never a form being filled in).
function tick() {
  if ($("list").hidden === false) renderList();
  else if ($("detail").hidden === false) refreshCampaign();
  else if ($("unknown").hidden === false) {
    const before = $("unknown-campaign").value;
    if (unknownCampaigns() !== before) loadUnknown();
  }
}

function connect() {
  if (source) source.close();
  source = new EventSource("/v1/events");
  source.addEventListener("board", (e) => {
    board = JSON.parse(e.data);
    $("live").textContent = "live";
    $("live").className = "live on";
    tick();
  });
  source.onerror = () => { $("live").textContent = "reconnecting"; $("live").className = "live"; };
}

async function start() {
  const r = await fetch("/v1/campaigns?limit=0", { credentials: "same-origin" });
  if (r.status === 401 || r.status === 403) { show("login"); return; }
  $("logout").hidden = false;
  $("nav").hidden = false;
  connect();
  shown = "";
  route();
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  const r = await fetch("/ops/login", {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ key: $("key").value }),
  });
  if (!r.ok) { $("login-error").textContent = (await r.json()).detail; return; }
  $("key").value = "";
  $("login-error").textContent = "";
  start();
});
$("logout").addEventListener("click", async () => {
  await fetch("/ops/logout", { method: "POST", credentials: "same-origin", headers: CSRF });
  if (source) source.close();
  $("logout").hidden = true;
  $("nav").hidden = true;
  $("live").textContent = "offline";
  $("live").className = "live";
  show("login");
});
$("filter-state").addEventListener("change", renderList);
$("filter-text").addEventListener("input", renderList);
window.addEventListener("hashchange", route);
start();
