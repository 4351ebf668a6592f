// What every part of the operations page shares: elements, the API, formatting.
"use strict";
const $ = (id) => document.getElementById(id);
const CSRF = { "X-Requested-With": "ops" }; // writes with the session cookie need it

class ApiError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

// A JSON call to the API with the page's session (and its header on every method).
async function api(method, path, body) {
  const headers = { ...CSRF };
  const init = { method, credentials: "same-origin", headers };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const type = r.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await r.json() : null;
  if (!r.ok) throw new ApiError(r.status, (data && (data.detail || data.title)) || r.statusText);
  return data;
}

// An element with text or children: el("td", {className: "n"}, "12").
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "style") node.style.cssText = v; // CSSOM: allowed by the page's CSP
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : String(c ?? ""));
  return node;
}

function num(n) {
  return n === undefined || n === null || n === "" ? "–" : Number(n).toLocaleString("en-US");
}

// A time the API gives in epoch seconds or milliseconds.
function epochMs(v) {
  return v > 1e12 ? v : v * 1000;
}

function when(v) {
  if (!v) return "–";
  const d = new Date(epochMs(v));
  return d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "medium" });
}

function duration(s) {
  if (s === null || s === undefined || !isFinite(s)) return "–";
  s = Math.round(s);
  if (s < 90) return s + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}

// Rows of a two-column table: [[name, value], ...]; a value may be a node.
function kv(tbody, pairs) {
  tbody.replaceChildren(
    ...pairs.map(([k, v, testid]) => {
      const td = el("td", { className: "n" }, v);
      if (testid) td.dataset.testid = testid;
      return el("tr", {}, el("th", {}, k), td);
    }),
  );
}

function failure(target, e) {
  target.textContent = e instanceof ApiError ? `${e.status}: ${e.message}` : String(e);
  target.className = "error";
}

function success(target, text) {
  target.textContent = text;
  target.className = "ok";
}
