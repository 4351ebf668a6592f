// The operator's other pages: dead letters, unknown outcomes, opt-outs, API keys.
"use strict";

function rowsOrEmpty(tbody, empty, rows) {
  tbody.replaceChildren(...rows);
  $(empty).hidden = rows.length > 0;
}

function button(label, onClick, props) {
  const b = el("button", { type: "button", ...props }, label);
  b.addEventListener("click", onClick);
  return b;
}

// -- dead letters ------------------------------------------------------------------------

async function loadDead() {
  const campaignFilter = $("dead-campaign").value.trim();
  const query = campaignFilter ? "?campaign=" + encodeURIComponent(campaignFilter) : "";
  try {
    const data = await api("GET", "/v1/deadletters" + query);
    rowsOrEmpty($("dead-rows"), "dead-empty", data.deadletters.map((d) => el("tr", { dataset: { testid: "dead-row" } },
      el("td", {}, d.messageId), el("td", {}, el("a", { href: "#/c/" + encodeURIComponent(d.campaign) }, d.campaign)),
      el("td", {}, d.to), el("td", {}, d.reason), el("td", {}, when(d.at)),
      el("td", {}, button("replay", () => replayDead({ messageId: d.messageId }), { dataset: { testid: "dead-replay" } })))));
  } catch (e) { failure($("dead-result"), e); }
}

async function replayDead(which) {
  const all = !which.messageId;
  if (all && !confirm(which.campaign ? `Replay every dead letter of ${which.campaign}?` : "Replay every dead letter?")) return;
  try {
    const data = await api("POST", "/v1/deadletters/replay", which);
    success($("dead-result"), `replayed ${num(data.replayed)}`);
  } catch (e) { failure($("dead-result"), e); }
  loadDead();
}

$("dead-refresh").addEventListener("click", loadDead);
$("dead-campaign").addEventListener("change", loadDead);
$("dead-replay-all").addEventListener("click", () => {
  const c = $("dead-campaign").value.trim();
  replayDead(c ? { campaign: c } : {});
});

// -- unknown outcomes --------------------------------------------------------------------

function unknownCampaigns() {
  const select = $("unknown-campaign");
  const held = board.campaigns.filter((c) => c.unknown).map((c) => c.campaign);
  const current = select.value;
  const names = [...new Set([...held, ...(current ? [current] : [])])];
  if (names.join("\n") !== [...select.options].map((o) => o.value).join("\n")) {
    select.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
    if (current) select.value = current;
  }
  return select.value;
}

async function loadUnknown() {
  const c = unknownCampaigns();
  if (!c) { rowsOrEmpty($("unknown-rows"), "unknown-empty", []); return; }
  try {
    const data = await api("GET", `/v1/campaigns/${encodeURIComponent(c)}/unknown`);
    rowsOrEmpty($("unknown-rows"), "unknown-empty", data.unknown.map((m) => el("tr", { dataset: { testid: "unknown-row" } },
      el("td", {}, el("input", { type: "checkbox", value: m.messageId, "aria-label": "select " + m.messageId })),
      el("td", {}, m.messageId), el("td", {}, m.to), el("td", {}, m.reason), el("td", {}, when(m.at)))));
  } catch (e) { failure($("unknown-result"), e); }
}

async function decideUnknown(what) {
  const c = $("unknown-campaign").value;
  const ids = [...$("unknown-rows").querySelectorAll("input:checked")].map((i) => i.value);
  if (!c || !ids.length) { $("unknown-result").textContent = "select messages first"; return; }
  const warning = what === "resend" ? "A resend may reach a phone twice." : "Dropped messages end canceled.";
  if (!confirm(`${what} ${ids.length} message(s) of ${c}? ${warning}`)) return;
  try {
    const data = await api("POST", `/v1/campaigns/${encodeURIComponent(c)}/unknown/${what}`, { messageIds: ids });
    success($("unknown-result"), `${what === "resend" ? "resent" : "dropped"} ${num(data.resent ?? data.dropped)}`);
  } catch (e) { failure($("unknown-result"), e); }
  $("unknown-all").checked = false;
  loadUnknown();
}

$("unknown-campaign").addEventListener("change", loadUnknown);
$("unknown-resend").addEventListener("click", () => decideUnknown("resend"));
$("unknown-drop").addEventListener("click", () => decideUnknown("drop"));
$("unknown-all").addEventListener("change", (e) => {
  for (const box of $("unknown-rows").querySelectorAll("input[type=checkbox]")) box.checked = e.target.checked;
});

// -- opt-outs ----------------------------------------------------------------------------

async function loadOptouts() {
  try {
    const data = await api("GET", "/v1/optouts?q=" + encodeURIComponent($("optout-q").value.trim()));
    rowsOrEmpty($("optout-rows"), "optout-empty", data.optouts.map((o) => el("tr", { dataset: { testid: "optout-row" } },
      el("td", {}, o.number), el("td", {}, o.source), el("td", {}, o.reason), el("td", {}, when(o.added)),
      el("td", {}, o.expires ? when(o.expires) : "never"),
      el("td", {}, button("remove", () => removeOptout(o.number), { dataset: { testid: "optout-remove" } })))));
  } catch (e) { failure($("optout-result"), e); }
}

async function removeOptout(number) {
  try {
    const data = await api("POST", "/v1/optouts/remove", { numbers: [number] });
    success($("optout-result"), `removed ${num(data.removed)}: ${number}`);
  } catch (e) { failure($("optout-result"), e); }
  loadOptouts();
}

$("optout-search").addEventListener("submit", (e) => { e.preventDefault(); loadOptouts(); });
$("optout-add").addEventListener("submit", async (e) => {
  e.preventDefault();
  const numbers = $("optout-numbers").value.split(/[,;\n]+/).map((n) => n.trim()).filter(Boolean);
  const body = { numbers, reason: $("optout-reason").value.trim(), days: Number($("optout-days").value || 0) };
  try {
    const data = await api("POST", "/v1/optouts", body);
    success($("optout-result"), `added ${num(data.added)} of ${num(numbers.length)}: ${data.numbers.join(" ")}`);
    $("optout-numbers").value = "";
  } catch (err) { failure($("optout-result"), err); }
  loadOptouts();
});

// -- API keys ----------------------------------------------------------------------------

async function loadKeys() {
  try {
    const data = await api("GET", "/v1/keys");
    $("key-rows").replaceChildren(...data.keys.map((k) => el("tr", { dataset: { testid: "key-row" } },
      el("td", {}, k.name), el("td", {}, k.scope), el("td", {}, when(k.created)),
      el("td", {}, button("revoke", () => revokeKey(k.name), { className: "danger", dataset: { testid: "key-revoke" } })))));
  } catch (e) { failure($("key-result"), e); }
}

async function revokeKey(name) {
  if (!confirm(`Revoke every key named ${name}? Services and pages using them stop at once.`)) return;
  try {
    const data = await api("DELETE", "/v1/keys/" + encodeURIComponent(name));
    success($("key-result"), `revoked ${num(data.revoked)} key(s) named ${name}`);
  } catch (e) { failure($("key-result"), e); }
  $("key-shown").hidden = true;
  loadKeys();
}

$("key-create").addEventListener("submit", async (e) => {
  e.preventDefault();
  try {
    const data = await api("POST", "/v1/keys", { name: $("key-name").value.trim(), scope: $("key-scope").value });
    $("key-value").textContent = data.key;
    $("key-shown").hidden = false;
    success($("key-result"), `created ${data.name} (${data.scope}): copy the key now, it is not shown again`);
    $("key-name").value = "";
  } catch (err) { $("key-shown").hidden = true; failure($("key-result"), err); }
  loadKeys();
});
