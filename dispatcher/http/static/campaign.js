// A campaign's page: details, why it waits, the funnel, the live chart, errors, audit trail.
"use strict";
// The funnel: messages = waiting + sent (status `sent`) + unknown + not sent (`ended_unsent`).
const WAITING_STATES = [["queued", "queued"], ["deferred", "deferred"], ["retrying", "retrying"],
  ["paused", "parked"]];
const SENT_STATES = [["delivered", "delivered"], ["awaiting", "awaiting a report"],
  ["undeliverable", "undeliverable"], ["rejected", "rejected"], ["expired", "expired"]];
const ENDED_STATES = [["failed", "failed"], ["dead", "dead"], ["suppressed", "opted out"],
  ["canceled", "canceled"]];
// status `waiting` reason codes (core.outcomes.Waiting) in words
const WAITING_REASONS = {
  rate_limit: "held by our rate limit (SMS_RATE)", anti_flooding: "held by anti-flooding (per number)",
  gateway_throttled: "the gateway asked us to slow down", retry: "retrying after a transient failure",
  resumed: "back on the queue after a resume", outcome_unknown: "the gateway is asked about them first",
  rerouted: "going through the routes again", worker_stopping: "their worker was stopping",
  redis_slow: "Redis answered too slowly to send safely",
};
const PSEUDO_KINDS = new Set(["messages", "otp", "transactional"]); // channels, not campaigns
const RATE_WINDOW_S = 30; // the ETA's rate: sent over the last this many seconds
const campaign = { id: null, status: null, details: null, points: [], clicks: [], fetching: false, audited: "" };

// The funnel's figures from the counts by state: waiting + sent + unknown + not sent =
// messages, and the sent ones by what became of them. `uncounted`: messages with no count.
function funnel(st) {
  const counts = { ...st.counts, awaiting: (st.counts.accepted || 0) + (st.counts.pending || 0) };
  const pick = (states) => states.map(([k, label]) => ({ key: k, label, n: counts[k] || 0 }));
  const sum = (parts) => parts.reduce((s, p) => s + p.n, 0);
  const waiting = pick(WAITING_STATES), sent = pick(SENT_STATES), ended = pick(ENDED_STATES);
  const messages = st.messages || 0;
  const totals = { waiting: sum(waiting), sent: sum(sent), unknown: counts.unknown || 0, ended: sum(ended) };
  const all = totals.waiting + totals.sent + totals.unknown + totals.ended;
  return { messages, waiting, sent, ended, totals, uncounted: messages - all };
}

function segment(n, of, cls, label, testid) {
  const pct = of ? (100 * n) / of : 0;
  return el("div", { className: "seg " + cls, title: `${label}: ${num(n)}`, style: `width:${pct}%`,
    dataset: { testid: testid + "-bar" } });
}

function figure(label, n, testid, cls) {
  return el("span", { className: "fig " + (cls || "") }, el("b", { dataset: { testid } }, num(n)), " " + label);
}

function renderFunnel(st) {
  const f = funnel(st);
  const N = f.messages;
  const stage = (title, bars, figures) => el("div", { className: "stage" },
    el("div", { className: "stage-name" }, title),
    el("div", { className: "stack" }, ...bars),
    el("div", { className: "stage-figures" }, ...figures));
  const detail = (parts) => parts.filter((p) => p.n).map((p) => `${p.label} ${num(p.n)}`).join(" · ");
  const stages = [
    stage("messages", [segment(N, N, "all", "messages", "funnel-messages")],
      [figure("messages", N, "funnel-messages")]),
    stage("handed on", [
      segment(f.totals.sent, N, "sent", "sent", "funnel-sent"),
      segment(f.totals.unknown, N, "unknown", "unknown", "funnel-unknown"),
      segment(f.totals.ended, N, "ended", "not sent", "funnel-not-sent"),
      segment(f.totals.waiting, N, "waiting", "waiting to send", "funnel-waiting"),
    ], [
      figure("sent (the gateway took them)", f.totals.sent, "funnel-sent", "sent"),
      figure("unknown (the gateway may have them)", f.totals.unknown, "funnel-unknown", "unknown"),
      figure("not sent" + (detail(f.ended) ? ` (${detail(f.ended)})` : ""), f.totals.ended, "funnel-not-sent", "ended"),
      figure("waiting to send" + (detail(f.waiting) ? ` (${detail(f.waiting)})` : ""), f.totals.waiting, "funnel-waiting", "waiting"),
    ]),
    stage("of the sent", f.sent.map((p) => segment(p.n, N, p.key, p.label, "funnel-" + p.key)),
      f.sent.map((p) => figure(p.label, p.n, "funnel-" + p.key, p.key))),
  ];
  if (f.uncounted) stages.push(el("p", { className: "warn" }, figure("not counted in any state yet", f.uncounted, "funnel-uncounted")));
  $("funnel").replaceChildren(...stages);
  const t = f.totals;
  const adds = t.waiting + t.sent + t.unknown + t.ended;
  $("funnel-check").textContent = `sent ${num(t.sent)} + unknown ${num(t.unknown)} + not sent ` +
    `${num(t.ended)} + waiting ${num(t.waiting)} = ${num(adds)}` +
    (adds === N ? " = messages" : ` of ${num(N)} messages`);
}

// Rate of `sent` over the last RATE_WINDOW_S of the chart's points (per second).
function recentRate(points) {
  if (points.length < 2) return 0;
  const last = points[points.length - 1];
  const first = points.find((p) => p[0] >= last[0] - RATE_WINDOW_S) || points[0];
  return last[0] > first[0] ? (last[1] - first[1]) / (last[0] - first[0]) : 0;
}

function costSoFar(cost) {
  if (cost === undefined || cost === null || cost === "") return null;
  if (typeof cost !== "object") return String(cost);
  return Object.entries(cost).map(([cur, v]) => `${v} ${cur}`).join(" + ") || null;
}

function renderDetails(st) {
  const d = campaign.details || {};
  const points = campaign.points;
  const firstSent = points.find((p) => p[1] > 0);
  const rows = [["state", st.state, "detail-state"]];
  const kind = st.kind || d.kind;
  if (kind) rows.push(["kind", kind]);
  rows.push(["text", el("span", { className: "msg" }, d.text ?? "…"), "detail-text"]);
  rows.push(["sender", d.sender || "(default)", "detail-sender"]);
  rows.push(["created", when(st.created || d.created)]);
  if (d.imported || st.imported) rows.push(["imported", when(d.imported || st.imported)]);
  if (st.send_at) rows.push(["send at", when(st.send_at)]);
  if (st.window || d.window) rows.push(["window", `${st.window || d.window} (each recipient's local time)`]);
  const started = st.started || (firstSent && firstSent[0] - 1);
  rows.push(["started", started ? when(started) + (st.started ? "" : " (from the chart)") : "–"]);
  if (st.finished) rows.push(["finished", when(st.finished)]);
  else if (st.state === "done" || st.state === "canceled") {
    const last = [...points].reverse().find((p, i, all) => i + 1 < all.length && p[1] !== all[i + 1][1]);
    rows.push(["finished", last ? when(last[0]) + " (from the chart)" : "–"]);
  }
  if (d.expires_at) rows.push(["validity ends", when(d.expires_at)]);
  if (st.state === "sending") {
    const rate = recentRate(points);
    const eta = st.eta ?? (rate > 0 ? Date.now() / 1000 + st.in_flight / rate : null);
    rows.push(["ETA", eta ? `${when(eta)} (${num(st.in_flight)} to go at ${rate.toFixed(1)}/s)` : "–"]);
  }
  const cost = costSoFar(st.cost_so_far ?? st.cost);
  if (cost) rows.push(["cost so far", cost]);
  kv($("d-details"), rows);
}

const words = (code) => code.replaceAll("_", " ");

// Why its messages wait: status `waiting` (reason codes with counts; window, scheduled and
// paused with their facts); from the older fields when a server has no `waiting`.
function waitingLines(st) {
  const lines = [];
  const w = st.waiting;
  if (w && typeof w === "object") {
    for (const [code, v] of Object.entries(w)) {
      if (code === "window" && typeof v === "object") {
        lines.push(`${num(v.count)} outside their delivery window` +
          (v.opens_at ? `: it opens at ${v.opens_at}` : "") +
          (v.next_opening ? ` (next opening ${when(v.next_opening)})` : ""));
      } else if (code === "scheduled" && typeof v === "object") {
        lines.push(`scheduled for ${when(v.at)}: ${num(v.batches)} batches wait`);
      } else if (code === "paused" && typeof v === "object") {
        lines.push(`paused${v.by ? " by " + v.by : ""}${v.reason ? ` (${v.reason})` : ""}` +
          (v.count ? `: ${num(v.count)} messages parked` : ""));
      } else if (typeof v === "number") {
        lines.push(`${num(v)} ${WAITING_REASONS[code] || words(code)}`);
      } else if (v && typeof v === "object") {
        lines.push(`${words(code)}: ` + Object.entries(v).map(([k, x]) => `${words(k)} ${x}`).join(", "));
      } else if (v) lines.push(`${words(code)}: ${v}`);
    }
  } else {
    if (st.state === "paused" && st.paused) lines.push(`paused: ${st.paused}`);
    if (st.state === "scheduled" && st.send_at) lines.push(`scheduled for ${when(st.send_at)}`);
    for (const s of ["deferred", "retrying"]) if (st.counts[s]) lines.push(`${num(st.counts[s])} ${s} (this server gives no reason)`);
  }
  if (st.parked_batches) lines.push(`${num(st.parked_batches)} batches parked`);
  if (st.scheduled_batches && !(w && w.scheduled)) lines.push(`${num(st.scheduled_batches)} batches scheduled` +
    (st.next_due ? `, the next due ${when(st.next_due)}` : ""));
  if (!lines.length) {
    lines.push(["done", "canceled"].includes(st.state) ? `nothing: the campaign is ${st.state}`
      : st.state === "open" ? "nothing: the channel sends as messages come" : "nothing is held back");
  }
  return lines;
}

function renderErrors(st) {
  const rows = (st.top_errors || []).map((e) => {
    const name = e.error_name || (e.error ? "code " + e.error : "no code");
    const label = `${e.status}: ${name}` + (e.error_name && e.error ? ` (${e.error})` : "") +
      (e.description ? ` — ${e.description}` : "");
    return [label, num(e.count)];
  });
  kv($("d-errors"), rows.length ? rows : [["none", ""]]);
}

function renderCampaign(st) {
  campaign.status = st;
  $("d-name").textContent = st.campaign;
  $("d-state").textContent = st.state;
  $("d-state").className = "state " + st.state;
  const kind = st.kind || (campaign.details || {}).kind || "";
  const pseudo = PSEUDO_KINDS.has(kind);
  $("d-kind").textContent = pseudo ? `a channel of single messages (${kind}), not an imported campaign` : "";
  $("pause").hidden = $("cancel").hidden = pseudo;
  $("resume").hidden = pseudo && st.state !== "paused";
  $("rejects-link").hidden = pseudo;
  $("pause").disabled = ["paused", "canceled", "done"].includes(st.state);
  $("resume").disabled = st.state !== "paused";
  $("cancel").disabled = ["canceled", "done"].includes(st.state);
  renderDetails(st);
  $("d-waiting").replaceChildren(...waitingLines(st).map((l) => el("li", {}, l)));
  renderFunnel(st);
  renderErrors(st);
  renderClicks(st);
  kv($("d-counts"), Object.entries(st.counts).map(([k, v]) => [k, num(v), "count-" + k]));
  const d = st.dlr_latency || {};
  const secs = (v) => (v === null ? "over a day" : v === undefined ? "–" : v + " s");
  kv($("d-dlr"), [["reports", num(d.count || 0)], ["mean", secs(d.mean_s)], ["p50 within", secs(d.p50_s)],
    ["p95 within", secs(d.p95_s)]]);
  if (campaign.audited !== st.state) { campaign.audited = st.state; loadAudit(); }
}

// Clicks on the campaign's tracked links (status `clicks`: total, messages clicked, the
// click-through rate over the sent) and clicks per minute (the chart's `clicks`).
function renderClicks(st) {
  const c = st.clicks || {};
  $("clicks-card").hidden = !c.tracked;
  if (!c.tracked) return;
  $("d-clicks").textContent = num(c.total || 0);
  $("d-clicked").textContent = num(c.messages || 0);
  $("d-click-rate").textContent = `${((c.rate || 0) * 100).toFixed(1)} %`;
  const agents = Object.entries(c.agents || {}).map(([a, n]) => `${a} ${num(n)}`).join(" · ");
  $("clicks-note").textContent = agents ? `(by browser: ${agents})` : "";
}

async function loadAudit() {
  const id = campaign.id;
  try {
    const data = await api("GET", `/v1/audit?campaign=${encodeURIComponent(id)}&limit=50`);
    if (id !== campaign.id) return;
    $("d-audit").replaceChildren(...data.entries.map((e) => el("tr", { dataset: { testid: "audit-row" } },
      el("td", {}, when(e.at)), el("td", {}, e.who), el("td", {}, e.action), el("td", {}, e.detail))));
    if (!data.entries.length) $("d-audit").replaceChildren(el("tr", {}, el("td", { colSpan: 4, className: "muted" }, "no action taken on it yet")));
  } catch (e) { $("d-audit").replaceChildren(el("tr", {}, el("td", { colSpan: 4 }, e.message))); }
}

// New chart points since the last one (all of them on opening), then draw.
async function loadChart() {
  if (campaign.fetching) return;
  campaign.fetching = true;
  const id = campaign.id;
  const since = campaign.points.length ? campaign.points[campaign.points.length - 1][0] : 0;
  try {
    const data = await api("GET", `/v1/campaigns/${encodeURIComponent(id)}/chart?since=${since}`);
    if (id !== campaign.id) return;
    campaign.points.push(...data.points);
    campaign.clicks = data.clicks || [];
    if (campaign.clicks.length) drawClicks($("clicks-chart"), campaign.clicks);
    const moving = campaign.status && !["done", "canceled"].includes(campaign.status.state);
    drawChart($("chart"), campaign.points, moving ? data.now : 0);
    $("chart-note").textContent = `(${num(campaign.points.length)} points: a second apart for the last hour, a minute before)`;
  } catch (e) { $("chart-note").textContent = e.message; }
  finally { campaign.fetching = false; }
}

function openCampaign(id) {
  if (campaign.id !== id) {
    Object.assign(campaign, { id, status: null, details: null, points: [], clicks: [], audited: "" });
    $("d-name").textContent = id;
    $("d-state").textContent = "…";
    for (const t of ["d-details", "d-waiting", "funnel", "d-errors", "d-counts", "d-dlr", "d-audit", "chart", "clicks-chart"]) $(t).replaceChildren();
    $("action-result").textContent = "";
    const path = "/v1/campaigns/" + encodeURIComponent(id);
    $("export-link").href = path + "/export";
    $("rejects-link").href = path + "/rejects";
    api("GET", path + "/details").then((d) => {
      if (id !== campaign.id) return;
      campaign.details = d;
      if (campaign.status) renderCampaign(campaign.status);
    }).catch((e) => { $("action-result").textContent = e.message; });
  }
  refreshCampaign();
}

// On each board tick: the status (from the board, or asked for when not on it) and new points.
async function refreshCampaign() {
  const id = campaign.id;
  const st = board.campaigns.find((c) => c.campaign === id);
  if (st) renderCampaign(st);
  else {
    try {
      const fetched = await api("GET", "/v1/campaigns/" + encodeURIComponent(id));
      if (id === campaign.id) renderCampaign(fetched);
    } catch (e) { $("d-state").textContent = e.status === 404 ? "no such campaign" : e.message; return; }
  }
  loadChart();
}

async function act(what) {
  const id = campaign.id;
  if (what === "cancel" && !confirm(`Cancel ${id}? Every unsent message ends canceled; this cannot be undone.`)) return;
  try {
    const st = await api("POST", `/v1/campaigns/${encodeURIComponent(id)}/${what}`);
    success($("action-result"), `${what}: done`);
    renderCampaign(st);
  } catch (e) { failure($("action-result"), e); }
  loadAudit();
}

for (const what of ["pause", "resume", "cancel"]) $(what).addEventListener("click", () => act(what));
