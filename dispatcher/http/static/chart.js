// The campaign page's chart: sent/s and delivered/s from the series the API keeps in Redis
// (GET /v1/campaigns/{c}/chart: cumulative [second, sent, delivered] points).
"use strict";
const SVG = "http://www.w3.org/2000/svg";
const CHART = { width: 900, height: 240, left: 56, right: 16, top: 12, bottom: 28 };

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// Rates between consecutive points: [second, sent/s, delivered/s]. A stretch with no
// point and no change is drawn as zero; a change over a gap is spread over it.
function chartRates(points) {
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const [t0, s0, d0] = points[i - 1];
    const [t1, s1, d1] = points[i];
    const dt = t1 - t0;
    if (dt <= 0) continue;
    const sent = Math.max(0, s1 - s0), delivered = Math.max(0, d1 - d0);
    if (dt > 2 && sent === 0 && delivered === 0) {
      out.push([t0 + 1, 0, 0], [t1, 0, 0]);
    } else {
      out.push([t1, sent / dt, delivered / dt]);
    }
  }
  return out;
}

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
}

function clock(t) {
  return new Date(t * 1000).toLocaleTimeString("en-GB");
}

// Draw the chart into `box`; `until` (epoch s) stretches the time axis to now.
function drawChart(box, points, until) {
  const rates = chartRates(points);
  const c = CHART;
  const root = svg("svg", { viewBox: `0 0 ${c.width} ${c.height}`, role: "img",
    "aria-label": "sent and delivered per second", "data-testid": "rate-chart",
    "data-points": String(rates.length), class: "chart" });
  const w = c.width - c.left - c.right, h = c.height - c.top - c.bottom;
  if (!rates.length) {
    root.append(svg("text", { x: c.width / 2, y: c.height / 2, "text-anchor": "middle", class: "axis" },
      "no points yet: they come once a second while the campaign moves"));
    box.replaceChildren(root);
    return;
  }
  const t0 = points[0][0], t1 = Math.max(rates[rates.length - 1][0], until || 0, t0 + 10);
  const top = niceMax(Math.max(...rates.map((r) => Math.max(r[1], r[2]))));
  const x = (t) => c.left + ((t - t0) / (t1 - t0)) * w;
  const y = (v) => c.top + h - (v / top) * h;
  for (const v of [0, top / 2, top]) {
    root.append(svg("line", { x1: c.left, x2: c.left + w, y1: y(v), y2: y(v), class: "grid" }));
    root.append(svg("text", { x: c.left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" },
      `${Number(v.toPrecision(3))}/s`));
  }
  root.append(svg("text", { x: c.left, y: c.height - 8, class: "axis" }, clock(t0)));
  root.append(svg("text", { x: c.left + w, y: c.height - 8, "text-anchor": "end", class: "axis" }, clock(t1)));
  const line = (i, cls) => {
    const path = [[t0, 0], ...rates.map((r) => [r[0], r[i]])];
    return svg("polyline", { class: cls, points: path.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ") });
  };
  root.append(line(1, "sent"), line(2, "delivered"));
  const legend = svg("g", { class: "legend" });
  legend.append(svg("rect", { x: c.left + 8, y: c.top, width: 10, height: 10, class: "sent" }),
    svg("text", { x: c.left + 22, y: c.top + 9 }, "sent/s"),
    svg("rect", { x: c.left + 82, y: c.top, width: 10, height: 10, class: "delivered" }),
    svg("text", { x: c.left + 96, y: c.top + 9 }, "delivered/s"));
  root.append(legend);
  box.replaceChildren(root);
}

// Clicks per minute on a campaign's tracked links (the chart's `clicks`: [minute's first
// second, clicks] for the minutes that had some), as bars over the minutes since the first.
function drawClicks(box, minutes) {
  const c = CHART;
  const root = svg("svg", { viewBox: `0 0 ${c.width} ${c.height}`, role: "img",
    "aria-label": "clicks per minute", "data-testid": "clicks-chart",
    "data-points": String(minutes.length), class: "chart" });
  const w = c.width - c.left - c.right, h = c.height - c.top - c.bottom;
  const t0 = minutes[0][0], t1 = Math.max(minutes[minutes.length - 1][0] + 60, t0 + 600);
  const top = niceMax(Math.max(...minutes.map((m) => m[1])));
  const x = (t) => c.left + ((t - t0) / (t1 - t0)) * w;
  const y = (v) => c.top + h - (v / top) * h;
  for (const v of [0, top / 2, top]) {
    root.append(svg("line", { x1: c.left, x2: c.left + w, y1: y(v), y2: y(v), class: "grid" }));
    root.append(svg("text", { x: c.left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" },
      `${Number(v.toPrecision(3))}/min`));
  }
  root.append(svg("text", { x: c.left, y: c.height - 8, class: "axis" }, clock(t0)));
  root.append(svg("text", { x: c.left + w, y: c.height - 8, "text-anchor": "end", class: "axis" }, clock(t1)));
  const bar = Math.max(1, x(t0 + 60) - x(t0) - 1);
  for (const [t, n] of minutes) {
    root.append(svg("rect", { x: x(t).toFixed(1), y: y(n).toFixed(1), width: bar.toFixed(1),
      height: (y(0) - y(n)).toFixed(1), class: "sent" }, undefined));
  }
  box.replaceChildren(root);
}
