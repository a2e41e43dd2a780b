// Series page: the chosen channels with their μ ± α·σ bands and flagged points, stacked under the
// score per step and the threshold, all on one time axis (zoom one plot, all follow).
"use strict";

const root = document.getElementById("series");
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const FIRST = 3; // channels shown at first
const api = (name, channels) => `/v1/models/${encodeURIComponent(name)}/series?`
  + (root.dataset.entity ? `entity=${encodeURIComponent(root.dataset.entity)}&` : "")
  + channels.map((c) => `channel=${encodeURIComponent(c)}`).join("&");

async function fetchJSON(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  const out = await r.json();
  if (!r.ok) throw new Error(out.detail || r.status);
  return out;
}

function flagged(x, values, flags) { // the points whose flag is 1
  const xs = [], ys = [];
  flags.forEach((f, i) => { if (f) { xs.push(x[i]); ys.push(values[i]); } });
  return { xs, ys };
}

function draw(base, chosen, perChannel) {
  const n = base.step_score.length;
  const x = base.time || Array.from({ length: n }, (_, i) => i);
  const rows = 1 + chosen.length, gap = 0.03, h = (1 - gap * (rows - 1)) / rows;
  const domain = (r) => [1 - (r + 1) * h - r * gap, 1 - r * h - r * gap]; // row 0 at the top
  const traces = [], layout = {
    height: 220 * rows + 60, margin: { t: 20, r: 20, b: 40, l: 70 }, showlegend: false, hovermode: "x",
    xaxis: { anchor: `y${rows === 1 ? "" : rows}`, title: { text: base.time ? "time" : "step" } }, shapes: [],
  };
  const axis = (r) => (r === 0 ? "y" : `y${r + 1}`);
  const key = (r) => (r === 0 ? "yaxis" : `yaxis${r + 1}`);
  // row 0: score per step, threshold, flagged steps, labelled anomalies
  traces.push({ x, y: base.step_score, type: "scattergl", mode: "lines", name: "score", line: { color: "#34495e", width: 1 }, yaxis: "y" });
  const f = flagged(x, base.step_score, base.step_flag);
  traces.push({ x: f.xs, y: f.ys, type: "scattergl", mode: "markers", name: "flagged step", marker: { color: "#c0392b", size: 5 }, yaxis: "y" });
  layout[key(0)] = { domain: domain(0), title: { text: "score" } };
  if (base.step_threshold) { // a rolling threshold: its value at each step
    traces.push({ x, y: base.step_threshold, type: "scattergl", mode: "lines", name: "threshold",
      line: { color: "#c0392b", dash: "dash", width: 1 }, yaxis: "y" });
  } else if (base.threshold !== null) {
    layout.shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, yref: "y", y0: base.threshold, y1: base.threshold,
      line: { color: "#c0392b", dash: "dash", width: 1 } });
  }
  if (base.y) { // shade labelled anomalous ranges across all rows
    for (let i = 0; i < n; i++) {
      if (!base.y[i]) continue;
      let j = i; while (j + 1 < n && base.y[j + 1]) j++;
      layout.shapes.push({ type: "rect", xref: "x", yref: "paper", x0: x[i], x1: x[j], y0: 0, y1: 1,
        fillcolor: "#f5b041", opacity: 0.18, line: { width: 0 }, layer: "below" });
      i = j;
    }
  }
  chosen.forEach((c, k) => {
    const r = k + 1, v = perChannel[c], ya = axis(r);
    traces.push({ x, y: v.lower, type: "scatter", mode: "lines", line: { width: 0 }, hoverinfo: "skip", yaxis: ya, name: `${c} lower` });
    traces.push({ x, y: v.upper, type: "scatter", mode: "lines", line: { width: 0 }, fill: "tonexty",
      fillcolor: "rgba(41,128,185,0.2)", name: `${c} band`, yaxis: ya });
    traces.push({ x, y: v.mu, type: "scatter", mode: "lines", line: { color: "#2980b9", width: 1 }, name: `${c} μ`, yaxis: ya });
    traces.push({ x, y: v.value, type: "scatter", mode: "lines", line: { color: "#17202a", width: 1 }, name: c, yaxis: ya });
    const p = flagged(x, v.value, v.flag);
    traces.push({ x: p.xs, y: p.ys, type: "scatter", mode: "markers", marker: { color: "#c0392b", size: 6 }, name: `${c} flagged`, yaxis: ya });
    layout[key(r)] = { domain: domain(r), title: { text: c.length > 18 ? c.slice(0, 17) + "…" : c, font: { size: 11 } } };
  });
  Object.keys(layout).filter((k) => k.startsWith("yaxis")).forEach((k) => { layout[k].anchor = "x"; });
  return Plotly.react("series-plot", traces, layout, { displaylogo: false, responsive: true });
}

async function main() {
  const name = root.dataset.model;
  const base = await fetchJSON(api(name, []));
  const cache = {};
  const picker = $("channel-picker");
  picker.innerHTML = base.channels.map((c, i) => `<label class="channel"><input type="checkbox" value="${esc(c)}"`
    + `${i < FIRST ? " checked" : ""}>${esc(c)}</label>`).join("");

  async function update() {
    const chosen = [...picker.querySelectorAll("input:checked")].map((e) => e.value);
    const missing = chosen.filter((c) => !(c in cache));
    if (missing.length) Object.assign(cache, (await fetchJSON(api(name, missing))).values);
    await draw(base, chosen, cache);
    const flags = chosen.reduce((s, c) => s + cache[c].flag.reduce((a, v) => a + (v ? 1 : 0), 0), 0);
    $("shown-channels").textContent = chosen.length ? chosen.join(", ") : "none";
    $("shown-flags").textContent = flags.toLocaleString();
    root.dataset.channels = String(chosen.length);
    root.dataset.ready = "1";
  }
  picker.addEventListener("change", () => { root.dataset.ready = "0"; update(); });
  await update();
  const m = /from=(\d+)&to=(\d+)/.exec(window.location.hash); // an incident's steps (the incidents page links here)
  if (m) {
    const a = Number(m[1]), b = Number(m[2]), pad = Math.max(10, Math.round((b - a) / 2)), n = base.step_score.length;
    const lo = Math.max(0, a - pad), hi = Math.min(n - 1, b + pad);
    await Plotly.relayout("series-plot", { "xaxis.range": base.time ? [base.time[lo], base.time[hi]] : [lo, hi] });
    root.dataset.range = `${lo}-${hi}`;
  }
}

main().catch((e) => { root.dataset.error = String(e); root.insertAdjacentHTML("afterbegin", `<p class="card">cannot load the series: ${esc(e.message)}</p>`); });
