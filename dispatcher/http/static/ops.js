// The operations page: campaigns live over server-sent events (GET /v1/events).
"use strict";
const $ = (id) => document.getElementById(id);
let board = { campaigns: [] };
let source = null;

function show(id) {
  for (const s of ["login", "list", "detail"]) $(s).hidden = s !== id;
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function progress(c) {
  return c.messages ? Math.floor((100 * c.done_sending) / c.messages) : 0;
}

function latency(d) {
  if (!d || !d.count) return "–";
  const s = (v) => (v === null ? ">1d" : v + " s");
  return `${s(d.p50_s)} / ${s(d.p95_s)}`;
}

function bar(c, big) {
  const wrap = document.createElement("div");
  wrap.className = big ? "bar big" : "bar";
  const fill = document.createElement("div");
  const pct = progress(c);
  fill.style.width = pct + "%";
  fill.setAttribute("role", "progressbar");
  fill.setAttribute("aria-valuenow", String(pct));
  fill.dataset.testid = "progress-" + c.campaign;
  wrap.append(fill);
  return wrap;
}

function renderList() {
  const rows = $("rows");
  rows.replaceChildren();
  for (const c of board.campaigns) {
    const tr = document.createElement("tr");
    tr.dataset.testid = "row-" + c.campaign;
    const name = document.createElement("td");
    const a = document.createElement("a");
    a.href = "#/c/" + encodeURIComponent(c.campaign);
    a.textContent = c.campaign;
    name.append(a);
    const state = cell(c.state);
    state.firstChild && (state.className = "");
    const st = document.createElement("span");
    st.className = "state " + c.state;
    st.textContent = c.state;
    state.replaceChildren(st);
    const pr = document.createElement("td");
    pr.append(bar(c, false), document.createTextNode(" " + progress(c) + "%"));
    const top = c.top_errors && c.top_errors[0];
    tr.append(name, state, pr, cell(String(c.sent_per_s), "n"), cell(String(c.messages), "n"),
      cell(top ? `${top.error_name || top.status + ":" + top.error} (${top.count})` : "–"),
      cell(latency(c.dlr_latency)));
    rows.append(tr);
  }
}

function kv(tbody, pairs) {
  tbody.replaceChildren();
  for (const [k, v] of pairs) {
    const tr = document.createElement("tr");
    tr.append(cell(k), cell(String(v), "n"));
    tbody.append(tr);
  }
}

function renderDetail(id) {
  const c = board.campaigns.find((x) => x.campaign === id);
  $("d-name").textContent = id;
  if (!c) { $("d-state").textContent = "…"; return; }
  $("d-state").textContent = c.state;
  $("d-state").className = "state " + c.state;
  $("d-paused").textContent = c.paused && c.state !== "canceled" ? "paused: " + c.paused : "";
  const pct = progress(c);
  $("d-bar").style.width = pct + "%";
  $("d-bar").setAttribute("aria-valuenow", String(pct));
  $("d-figures").textContent = `${c.done_sending} of ${c.messages} sent (${pct}%) · ` +
    `${c.sent_per_s}/s now · ${c.in_flight} in flight · ${c.awaiting_report} awaiting a report` +
    (c.unknown ? ` · ${c.unknown} unknown (held: smsdispatch unknown list ${id})` : "");
  $("pause").disabled = c.state === "paused" || c.state === "canceled" || c.state === "done";
  $("resume").disabled = c.state !== "paused";
  $("cancel").disabled = c.state === "canceled" || c.state === "done";
  kv($("d-counts"), Object.entries(c.counts));
  kv($("d-errors"), (c.top_errors || []).map((e) => [e.error_name || `${e.status}:${e.error}`, e.count]));
  const d = c.dlr_latency || {};
  kv($("d-dlr"), [["reports", d.count || 0], ["mean", d.mean_s ?? "–"], ["p50 ≤", d.p50_s ?? "–"], ["p95 ≤", d.p95_s ?? "–"]]);
}

function route() {
  const m = location.hash.match(/^#\/c\/(.+)$/);
  if (m) { show("detail"); renderDetail(decodeURIComponent(m[1])); }
  else { show("list"); renderList(); }
}

function connect() {
  if (source) source.close();
  source = new EventSource("/v1/events");
  source.addEventListener("board", (e) => {
    board = JSON.parse(e.data);
    $("live").textContent = "live";
    $("live").className = "live on";
    route();
  });
  source.onerror = () => { $("live").textContent = "reconnecting"; $("live").className = "live"; };
}

async function act(what) {
  const m = location.hash.match(/^#\/c\/(.+)$/);
  if (!m) return;
  if (what === "cancel" && !confirm("Cancel this campaign? Unsent messages end canceled.")) return;
  const r = await fetch(`/v1/campaigns/${m[1]}/${what}`, {
    method: "POST", credentials: "same-origin", headers: { "X-Requested-With": "ops" },
  });
  const body = await r.json();
  $("action-result").textContent = r.ok ? `${what}: done` : `${what}: ${body.detail}`;
}

async function start() {
  const r = await fetch("/v1/campaigns?limit=1", { credentials: "same-origin" });
  if (r.status === 401 || r.status === 403) { show("login"); return; }
  $("logout").hidden = false;
  connect();
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
  start();
});
$("logout").addEventListener("click", async () => {
  await fetch("/ops/logout", { method: "POST", credentials: "same-origin" });
  if (source) source.close();
  $("logout").hidden = true;
  show("login");
});
for (const what of ["pause", "resume", "cancel"]) $(what).addEventListener("click", () => act(what));
window.addEventListener("hashchange", route);
start();
