// New campaign: a CSV, its name and text; a live preview of the first rows; Plan (a dry
// run over the whole file) and Approve (imports exactly what was planned: the plan hash).
"use strict";
// dispatcher/csvsource.py PHONE_COLUMNS and DELIMITERS, for the preview only
const PHONE_COLUMNS = ["phone", "phone_number", "phonenumber", "phone number", "mobile",
  "mobile_number", "msisdn", "to", "number", "tel", "telephone", "recipient", "destination"];
const DELIMITERS = [",", ";", "\t", "|"];
const PREVIEW_BYTES = 64 * 1024;
const PREVIEW_ROWS = 5;
const create = { sample: null, planned: null, busy: false };

// One CSV line into fields (quotes as CSV has them; a line at a time is enough here).
function csvFields(line, delimiter) {
  const out = [];
  let field = "", quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quoted) {
      if (ch !== '"') field += ch;
      else if (line[i + 1] === '"') { field += '"'; i++; }
      else quoted = false;
    } else if (ch === '"' && field === "") quoted = true;
    else if (ch === delimiter) { out.push(field); field = ""; }
    else field += ch;
  }
  out.push(field);
  return out;
}

// The header and first rows, read from the file's first KBs in the browser.
async function readSample(file) {
  const bytes = await file.slice(0, PREVIEW_BYTES).arrayBuffer();
  let text = new TextDecoder("utf-8").decode(bytes); // drops a BOM
  if (file.size > PREVIEW_BYTES) text = text.slice(0, text.lastIndexOf("\n") + 1);
  const lines = text.split(/\r?\n/);
  const head = lines[0] || "";
  const delimiter = DELIMITERS.reduce((best, d) =>
    head.split(d).length > head.split(best).length ? d : best, ",");
  const header = csvFields(head, delimiter);
  const names = header.map((h) => h.trim().toLowerCase());
  const phone = PHONE_COLUMNS.map((c) => names.indexOf(c)).find((i) => i >= 0) ?? -1;
  const rows = [];
  for (let i = 1; i < lines.length && rows.length < PREVIEW_ROWS; i++) {
    if (lines[i].trim()) rows.push({ line: i + 1, fields: csvFields(lines[i], delimiter) });
  }
  return { header, rows, phone, delimiter };
}

function messageText() {
  const text = $("track-links").checked ? trackedUrls($("text").value) : $("text").value;
  return $("gsm-safe").checked ? gsmSafe(text) : text;
}

function splitFacts(s) {
  const enc = s.encoding === "GSM7" ? "GSM-7" : "UCS-2";
  return `${enc}, ${s.parts} part${s.parts > 1 ? "s" : ""}, ${s.remaining} characters left`;
}

function renderPreview() {
  const text = messageText();
  const own = fillTemplate(text, [], []).text.replace(/\{[^{}]*\}/g, "");
  const alone = smsSplit(own);
  $("text-facts").textContent = text
    ? `the text alone: ${splitFacts(alone)}` +
      (alone.notGsm.length ? ` (UCS-2 for ${alone.notGsm.slice(0, 8).join(" ")})` : "")
    : "";
  const body = $("preview");
  const sample = create.sample;
  if (!sample) { body.replaceChildren(); $("preview-note").textContent = "Choose a file and write the text."; return; }
  const rows = [];
  let error = "";
  for (const row of sample.rows) {
    const filled = fillTemplate(text, sample.header, row.fields);
    error ||= filled.error;
    const s = smsSplit(filled.text);
    rows.push(el("tr", { dataset: { testid: "preview-row" } },
      el("td", { className: "n" }, row.line),
      el("td", {}, sample.phone >= 0 ? row.fields[sample.phone] ?? "" : "?"),
      el("td", { className: "msg" }, filled.text),
      el("td", { className: s.encoding === "UCS2" ? "warn" : "" }, s.encoding === "GSM7" ? "GSM-7" : "UCS-2"),
      el("td", { className: "n" }, s.parts),
      el("td", { className: "n" }, s.remaining)));
  }
  body.replaceChildren(...rows);
  const columns = sample.header.map((h) => h.trim()).join(", ");
  $("preview-note").textContent = error ||
    (sample.phone < 0 ? `no phone column among: ${columns}` : `columns: ${columns}`);
  $("preview-note").className = error || sample.phone < 0 ? "error" : "muted";
}

// What the plan hash covers (the campaign's name is not in it).
function planned(fields) {
  const { campaign, ...rest } = fields;
  return JSON.stringify(rest);
}

// The form as the API takes it (fields before the file, as the upload wants them).
function campaignFields() {
  const fields = { campaign: $("campaign-name").value.trim(), text: $("text").value,
    sender: $("sender").value.trim(), provider: $("provider").value.trim() };
  if ($("send-at").value) fields.send_at = new Date($("send-at").value).toISOString();
  const [from, to] = [$("window-from").value, $("window-to").value];
  if (from || to) {
    if (!(from && to)) throw new Error("a window needs both its opening and closing time");
    fields.window = `${from}-${to}`;
  }
  if ($("gsm-safe").checked) fields.gsm_safe = "true";
  if ($("track-links").checked) fields.track_links = "true";
  return fields;
}

// POST the file with the fields; progress while it uploads. Resolves {status, data}.
function upload(query, fields, file) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) if (v) form.append(k, v);
  form.append("file", file, file.name);
  $("upload").hidden = false;
  const show = (done, total, note) => {
    const pct = total ? Math.floor((100 * done) / total) : 0;
    $("upload-bar").style.width = pct + "%";
    $("upload-bar").setAttribute("aria-valuenow", String(pct));
    $("upload-text").textContent = note || `uploading ${num(done)} of ${num(total)} bytes (${pct}%)`;
  };
  show(0, file.size);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/campaigns?" + query);
    for (const [k, v] of Object.entries(CSRF)) xhr.setRequestHeader(k, v);
    xhr.responseType = "json";
    xhr.upload.onprogress = (e) => show(e.loaded, e.lengthComputable ? e.total : file.size);
    xhr.upload.onload = () => show(1, 1, "uploaded; the server is reading the file…");
    xhr.onload = () => resolve({ status: xhr.status, data: xhr.response });
    xhr.onerror = () => reject(new Error("the upload failed (network)"));
    xhr.send(form);
  });
}

function problemText(r) {
  const d = r.data || {};
  const where = [d.file, d.line && `line ${d.line}`, d.field && `field ${d.field}`].filter(Boolean);
  return `${d.detail || d.title || "error " + r.status}${where.length ? " (" + where.join(", ") + ")" : ""}`;
}

function costText(plan) {
  const costs = Object.entries(plan.cost || {}).map(([cur, amount]) =>
    `${Number(amount).toLocaleString("en-US", { minimumFractionDigits: 2 })} ${cur}`);
  if (plan.unpriced_parts) costs.push(`${num(plan.unpriced_parts)} parts unpriced`);
  return costs.join(" + ") || "–";
}

function renderPlan(plan) {
  $("plan").hidden = false;
  const set = (id, v) => { $(id).textContent = v; };
  set("plan-rows", num(plan.rows));
  set("plan-valid", num(plan.valid));
  set("plan-invalid", num(plan.invalid));
  set("plan-duplicates", num(plan.duplicates));
  set("plan-opted-out", num(plan.opted_out));
  set("plan-parts", num(plan.recipients_parts));
  set("plan-cost", costText(plan));
  set("plan-hash", plan.hash);
  $("plan-groups").replaceChildren(...Object.entries(plan.groups || {}).map(([key, g]) => {
    const [country, encoding, parts] = key.split("|");
    return el("tr", {}, el("td", {}, country), el("td", {}, encoding === "GSM7" ? "GSM-7" : "UCS-2"),
      el("td", { className: "n" }, parts), el("td", { className: "n" }, num(g.recipients)),
      el("td", { className: "n" }, num(g.parts)));
  }));
  const notes = [];
  notes.push(`text: ${plan.encoding === "GSM7" ? "GSM-7" : "UCS-2"}, ${plan.parts} part(s) without merged fields` +
    (plan.not_gsm ? ` (UCS-2 for ${plan.not_gsm})` : ""));
  if (plan.gsm_safe_would_fix) notes.push("GSM-safe would make the text GSM-7");
  const examples = (list) => (list || []).slice(0, 3)
    .map((x) => `line ${x.line}: ${x.parts} part(s)${x.chars ? " for '" + x.chars + "'" : ""}`).join("; ");
  if (plan.changed_encoding) notes.push(`${num(plan.changed_encoding)} rows turn UCS-2 through merged fields: ${examples(plan.examples_encoding)}`);
  if (plan.changed_parts) notes.push(`${num(plan.changed_parts)} rows need more parts through merged fields: ${examples(plan.examples_parts)}`);
  const replaced = Object.entries(plan.replaced || {});
  if (replaced.length) notes.push("GSM-safe replaced " + replaced.map(([c, n]) => `'${c}' ×${n}`).join(", "));
  const f = plan.forecast;
  if (f) {
    notes.push(f.rate_per_s
      ? `time to send: ${duration(f.seconds)} at ${num(f.rate_per_s)} parts/s` +
        (f.finish ? `, done about ${when(Date.parse(f.finish))}` : "") +
        (f.miss_validity ? `; ${num(f.miss_validity)} would miss their validity` : "")
      : "time to send: no SMS_RATE set, so it depends on workers and gateway");
    if (f.window) notes.push(`window ${f.window} in each recipient's local time; starts ${when(Date.parse(f.start))}`);
  }
  if ((plan.unpriced || []).length) notes.push("no price for " + plan.unpriced.join(", "));
  for (const reason of (plan.rejects || []).slice(0, 5)) notes.push("rejected: " + reason);
  notes.push(`planned in ${plan.seconds.toFixed(2)} s`);
  $("plan-notes").replaceChildren(...notes.map((n) => el("li", {}, n)));
}

async function planOrApprove(approve) {
  if (create.busy) return;
  const file = $("csv-file").files[0];
  $("create-error").textContent = "";
  let fields;
  try {
    if (!file) throw new Error("choose a CSV file");
    fields = campaignFields();
    if (!fields.text.trim()) throw new Error("write the text");
    if (approve && !fields.campaign) throw new Error("name the campaign");
  } catch (e) { $("create-error").textContent = e.message; return; }
  create.busy = true;
  $("plan-button").disabled = $("approve-button").disabled = true;
  try {
    if (approve) fields.plan_hash = create.planned.hash;
    const r = await upload(approve ? "" : "dry_run=true", fields, file);
    if (r.status >= 400 || !r.data) throw new Error(problemText(r));
    $("upload-text").textContent = approve
      ? `imported: ${num(r.data.valid)} valid, ${num(r.data.enqueued)} batches enqueued`
      : "planned";
    if (approve) {
      create.planned = null;
      location.hash = "#/c/" + encodeURIComponent(r.data.campaign);
      return;
    }
    renderPlan(r.data);
    create.planned = { hash: r.data.hash, form: planned(fields) };
  } catch (e) {
    $("create-error").textContent = e.message;
  } finally {
    create.busy = false;
    $("plan-button").disabled = false;
    $("approve-button").disabled = !create.planned;
  }
}

// Any change to what was planned takes the approval away: plan again.
function formChanged() {
  if (create.planned) {
    let same = false;
    try { same = planned(campaignFields()) === create.planned.form; } catch { /* incomplete */ }
    if (!same) {
      create.planned = null;
      $("plan").hidden = true;
      $("approve-button").disabled = true;
    }
  }
  renderPreview();
}

async function fileChosen() {
  const file = $("csv-file").files[0];
  create.sample = file ? await readSample(file) : null;
  $("file-facts").textContent = file ? `${file.name}: ${num(file.size)} bytes` : "";
  if (create.planned) { create.planned = null; $("plan").hidden = true; $("approve-button").disabled = true; }
  renderPreview();
}

$("csv-file").addEventListener("change", fileChosen);
$("create").addEventListener("input", (e) => { if (e.target.id !== "csv-file") formChanged(); });
$("plan-button").addEventListener("click", () => planOrApprove(false));
$("approve-button").addEventListener("click", () => planOrApprove(true));
