// Evaluation page: histogram by class, ROC/PR, and a threshold slider whose metrics are computed
// here from the evaluation scores and labels (rule: anomaly iff score > threshold, as in nadkit).
"use strict";

const root = document.getElementById("evaluation");
const fmt = (v) => (Number.isFinite(v) ? v.toFixed(4) : "—");
const $ = (id) => document.getElementById(id);

function upperBound(sorted, t) { // number of values <= t
  let lo = 0, hi = sorted.length;
  while (lo < hi) { const mid = (lo + hi) >>> 1; if (sorted[mid] <= t) lo = mid + 1; else hi = mid; }
  return lo;
}

function fbeta(p, r, beta) {
  const b2 = beta * beta, denom = b2 * p + r;
  return denom > 0 ? (1 + b2) * p * r / denom : 0;
}

function prepare(ev) {
  const n = ev.scores.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => ev.scores[a] - ev.scores[b]);
  const sorted = Float64Array.from(order, (i) => ev.scores[i]);
  const cumPos = new Int32Array(n + 1);
  for (let k = 0; k < n; k++) cumPos[k + 1] = cumPos[k] + (ev.y[order[k]] ? 1 : 0);
  const classes = {};
  if (ev.attack) {
    ev.attack.forEach((c, i) => { (classes[c] = classes[c] || []).push(ev.scores[i]); });
    for (const c in classes) classes[c] = Float64Array.from(classes[c]).sort();
  }
  return { n, sorted, cumPos, P: cumPos[n], N: n - cumPos[n], classes };
}

function confusionAt(d, t) {
  const k = upperBound(d.sorted, t);
  const tp = d.P - d.cumPos[k], fp = (d.n - k) - tp;
  return { tp, fp, fn: d.P - tp, tn: d.N - fp };
}

function metricsAt(d, t) {
  const c = confusionAt(d, t);
  const precision = c.tp + c.fp ? c.tp / (c.tp + c.fp) : 0;
  const recall = c.tp + c.fn ? c.tp / (c.tp + c.fn) : 0;
  return {
    ...c, precision, recall, f1: fbeta(precision, recall, 1), f2: fbeta(precision, recall, 2),
    fpr: c.fp + c.tn ? c.fp / (c.fp + c.tn) : 0, accuracy: (c.tp + c.tn) / Math.max(d.n, 1),
  };
}

function curves(d) { // ROC and PR points at every distinct threshold, thinned to <= 2000 points
  const roc = { x: [0], y: [0] }, pr = { x: [], y: [] };
  const step = Math.max(1, Math.floor(d.n / 2000));
  for (let k = d.n - 1, seen = 0; k >= 0; k--) {
    if (k > 0 && d.sorted[k - 1] === d.sorted[k]) continue; // not a distinct cut
    if (seen++ % step && k > 0) continue;
    const tp = d.P - d.cumPos[k], fp = (d.n - k) - tp;
    roc.x.push(d.N ? fp / d.N : 0); roc.y.push(d.P ? tp / d.P : 0);
    if (tp + fp) { pr.x.push(d.P ? tp / d.P : 0); pr.y.push(tp / (tp + fp)); }
  }
  return { roc, pr };
}

async function main() {
  const name = root.dataset.model;
  const response = await fetch(`/v1/models/${encodeURIComponent(name)}/evaluation`, { credentials: "same-origin" });
  if (!response.ok) { root.textContent = `cannot load the evaluation data (${response.status})`; return; }
  const ev = await response.json();
  const d = prepare(ev);
  const modelThreshold = ev.report.threshold;
  const positive = d.sorted[0] > 0;
  const tx = (s) => (positive ? Math.log10(s) : s);
  const xTitle = positive ? "log10(score)" : "score";

  const normal = [], attack = [];
  ev.scores.forEach((s, i) => (ev.y[i] ? attack : normal).push(tx(s)));
  const lineShape = (t) => ({ type: "line", xref: "x", yref: "paper", x0: tx(t), x1: tx(t), y0: 0, y1: 1,
    line: { color: "#c0392b", dash: "dash", width: 2 } });
  const layout = (title, xaxis, yaxis, extra = {}) => ({ title: { text: title }, margin: { t: 40, r: 10, b: 45, l: 55 },
    xaxis: { title: { text: xaxis } }, yaxis: { title: { text: yaxis } },
    legend: { x: 1, xanchor: "right", y: 1, bgcolor: "rgba(255,255,255,0.8)" }, ...extra });
  const config = { responsive: true, displaylogo: false };
  await Plotly.newPlot("histogram", [
    { x: normal, type: "histogram", name: `normal (${normal.length})`, opacity: 0.6, histnorm: "percent", marker: { color: "#2e86c1" } },
    { x: attack, type: "histogram", name: `attack (${attack.length})`, opacity: 0.6, histnorm: "percent", marker: { color: "#c0392b" } },
  ], layout("Scores by class", xTitle, "% of class", { barmode: "overlay", shapes: [lineShape(modelThreshold)] }), config);
  const { roc, pr } = curves(d);
  await Plotly.newPlot("roc", [
    { x: roc.x, y: roc.y, mode: "lines", name: `ROC (AUROC ${fmt(ev.report.auroc)})` },
    { x: [0], y: [0], mode: "markers", name: "threshold", marker: { size: 11, color: "#c0392b" } },
  ], layout("ROC", "false-positive rate", "true-positive rate"), config);
  await Plotly.newPlot("pr", [
    { x: pr.x, y: pr.y, mode: "lines", name: `PR (AUPRC ${fmt(ev.report.auprc)})` },
    { x: [0], y: [0], mode: "markers", name: "threshold", marker: { size: 11, color: "#c0392b" } },
  ], layout("Precision-recall", "recall", "precision"), config);

  const slider = $("threshold-slider"), input = $("threshold-input");
  const atPosition = (p) => d.sorted[Math.round((p / 1000) * (d.n - 1))];
  const positionOf = (t) => Math.round(1000 * Math.min(d.n - 1, upperBound(d.sorted, t)) / Math.max(d.n - 1, 1));

  function update(t) {
    const m = metricsAt(d, t);
    $("threshold-value").textContent = t.toPrecision(6);
    $("threshold-value").dataset.threshold = String(t);
    $("flagged").textContent = `${(m.tp + m.fp).toLocaleString()} / ${d.n.toLocaleString()}`;
    for (const k of ["precision", "recall", "f1", "f2", "fpr", "accuracy"]) $(k).textContent = fmt(m[k]);
    for (const k of ["tp", "fp", "fn", "tn"]) $(k).textContent = m[k].toLocaleString();
    Plotly.relayout("histogram", { shapes: [lineShape(t)] });
    Plotly.restyle("roc", { x: [[d.N ? m.fp / d.N : 0]], y: [[d.P ? m.tp / d.P : 0]] }, [1]);
    Plotly.restyle("pr", { x: [[m.recall]], y: [[m.precision]] }, [1]);
    const rows = Object.entries(d.classes).sort((a, b) => b[1].length - a[1].length).map(([c, s]) => {
      const flagged = s.length - upperBound(s, t);
      return `<tr><td>${c}</td><td>${s.length.toLocaleString()}</td><td>${flagged.toLocaleString()}</td><td>${fmt(flagged / s.length)}</td></tr>`;
    });
    $("per-class").innerHTML = "<tr><th>class</th><th>rows</th><th>flagged</th><th>rate</th></tr>" + rows.join("");
  }
  const oracle = ev.report["per_class_at_fpr_0.01"] || {}, atModel = ev.report.per_class || {};
  const oracleThreshold = ev.report["threshold_at_fpr_0.01"];
  $("oracle-threshold").textContent = Number.isFinite(oracleThreshold) ? `score > ${oracleThreshold.toPrecision(6)}` : "—";
  $("per-class-operating").innerHTML = "<tr><th>class</th><th>rows</th><th>model threshold</th><th>FPR 1 % (oracle)</th></tr>" +
    Object.entries(oracle).map(([c, v]) => `<tr class="operating-class"><td>${c}</td><td>${v.n.toLocaleString()}</td>` +
      `<td class="rate-model">${fmt(atModel[c] ? atModel[c].rate : NaN)}</td><td class="rate-oracle">${fmt(v.rate)}</td></tr>`).join("");

  slider.addEventListener("input", () => { const t = atPosition(Number(slider.value)); input.value = t; update(t); });
  input.addEventListener("change", () => { const t = Number(input.value); if (Number.isFinite(t)) { slider.value = positionOf(t); update(t); } });
  $("threshold-reset").addEventListener("click", () => { input.value = modelThreshold; slider.value = positionOf(modelThreshold); update(modelThreshold); });
  input.value = modelThreshold;
  slider.value = positionOf(modelThreshold);
  update(modelThreshold);
  root.dataset.ready = "1";
}

main();
