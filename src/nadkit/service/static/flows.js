// Flows page: a sample of records coloured by score and label; clicking a row scores it through
// the REST API and lists every feature with its value and its contribution to the score.
"use strict";

const root = document.getElementById("flows");
const $ = (id) => document.getElementById(id);
const SCALE = ["#c6dbef", "#deebf7", "#f2f6fa", "#fbf2ee", "#fddbc7", "#f9b99f", "#f4a582"]; // light blue → light red
const SHOWN = 8; // feature columns shown in the table
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const num = (v) => (typeof v === "number" ? (Number.isInteger(v) ? v.toLocaleString() : v.toPrecision(4)) : esc(v));

async function main() {
  const name = root.dataset.model;
  const threshold = Number(root.dataset.threshold);
  const response = await fetch(`/v1/models/${encodeURIComponent(name)}/flows`, { credentials: "same-origin" });
  if (!response.ok) { root.textContent = `cannot load the flows (${response.status})`; return; }
  const f = await response.json();
  const order = f.scores.map((_, i) => i).sort((a, b) => f.scores[b] - f.scores[a]);
  const rank = new Map(order.map((i, r) => [i, 1 - r / Math.max(order.length - 1, 1)]));
  $("flow-count").textContent = f.records.length;
  const cols = f.columns.slice(0, SHOWN);
  const head = `<tr><th>#</th><th>score</th><th>prediction</th><th>label</th>${cols.map((c) => `<th>${esc(c)}</th>`).join("")}<th>…</th></tr>`;
  const body = order.map((i) => {
    const pred = f.scores[i] > threshold ? 1 : 0;
    const label = f.attack ? f.attack[i] : (f.y[i] ? "attack" : "normal");
    const colour = SCALE[Math.min(SCALE.length - 1, Math.floor(rank.get(i) * SCALE.length))];
    const cells = cols.map((c) => `<td>${num(f.records[i][c])}</td>`).join("");
    return `<tr class="flow" data-row="${i}" style="background:${colour}">
      <td>${f.index[i]}</td><td>${f.scores[i].toPrecision(4)}</td>
      <td class="${pred ? "anomaly" : "normal"}">${pred ? "anomaly" : "normal"}</td>
      <td class="${f.y[i] ? "anomaly" : "normal"}">${esc(label)}</td>${cells}<td>…</td></tr>`;
  });
  $("flow-table").innerHTML = head + body.join("");
  $("flow-table").addEventListener("click", (e) => { const tr = e.target.closest("tr.flow"); if (tr) show(Number(tr.dataset.row)); });
  $("detail-close").addEventListener("click", () => { $("detail").hidden = true; });
  const linked = /row=(\d+)/.exec(window.location.hash); // a record the incidents page links to
  if (linked) {
    const at = f.index.indexOf(Number(linked[1]));
    if (at >= 0) await show(at);
    else root.insertAdjacentHTML("afterbegin", `<p class="card" id="row-not-sampled">Record ${Number(linked[1])} is not in this page's sample of the evaluation rows.</p>`);
  }

  async function show(i) {
    const record = f.records[i];
    document.querySelectorAll("tr.flow.selected").forEach((tr) => tr.classList.remove("selected"));
    document.querySelector(`tr.flow[data-row="${i}"]`).classList.add("selected");
    const r = await fetch(`/v1/models/${encodeURIComponent(name)}/score`, {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ data: [record] }),
    });
    const out = await r.json();
    if (!r.ok) { $("detail-summary").textContent = out.detail || r.status; $("detail").hidden = false; return; }
    const score = out.scores[0];
    $("detail-title").textContent = `Record ${f.index[i]}`;
    $("detail-summary").innerHTML = `score <b id="detail-score">${score.toPrecision(6)}</b> · threshold ${out.threshold.toPrecision(6)} · `
      + `prediction <b class="${out.labels[0] ? "anomaly" : "normal"}">${out.labels[0] ? "anomaly" : "normal"}</b> · `
      + `true label <b>${esc(f.attack ? f.attack[i] : f.y[i])}</b>`;
    const contrib = out.contributions ? Object.fromEntries(out.columns.map((c, k) => [c, out.contributions[0][k]])) : null;
    const features = f.columns.slice().sort((a, b) => (contrib ? contrib[b] - contrib[a] : 0));
    $("detail-table").innerHTML = `<tr><th>feature</th><th>value</th><th>contribution</th><th>share</th></tr>` + features.map((c) =>
      `<tr class="feature"><td>${esc(c)}</td><td>${num(record[c])}</td><td class="contribution">${contrib ? contrib[c].toPrecision(4) : "—"}</td>`
      + `<td>${contrib && score > 0 ? (100 * contrib[c] / score).toFixed(1) + "%" : "—"}</td></tr>`).join("");
    $("detail").hidden = false;
    if (contrib) {
      const top = features.slice(0, 12).reverse();
      await Plotly.react("contrib-plot", [{ type: "bar", orientation: "h", x: top.map((c) => contrib[c]), y: top, marker: { color: "#c0392b" } }],
        { title: { text: "Largest contributions" }, margin: { t: 35, r: 10, b: 30, l: 140 }, height: 320 }, { displaylogo: false, responsive: true });
    } else {
      $("contrib-plot").textContent = "This model has no per-feature contributions.";
    }
    root.dataset.detail = String(i);
  }
  root.dataset.ready = "1";
}

main();
