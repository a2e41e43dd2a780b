// Incidents page: the model's incidents (merged flagged steps or rows) in a sortable, filterable
// table that links each to the series or flows page, with the labelled truth, above a swimlane of
// every model's incidents over time coloured by severity.
"use strict";

const root = document.getElementById("incidents");
const $ = (id) => document.getElementById(id);
const esc = (v) => String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
const fmt = (v) => (v === null || v === undefined ? "—" : typeof v === "number" ? (Number.isInteger(v) ? v.toLocaleString() : v.toPrecision(4)) : esc(v));
const SEVERITY = [[0, "#fef0d9"], [0.33, "#fdcc8a"], [0.66, "#fc8d59"], [1, "#b30000"]];

function colour(sev) { // severity 0-100 → the SEVERITY scale
  if (sev === null) return "#bbb";
  const t = Math.max(0, Math.min(1, sev / 100));
  let k = 0; while (k < SEVERITY.length - 2 && t > SEVERITY[k + 1][0]) k++;
  const [a, ca] = SEVERITY[k], [b, cb] = SEVERITY[k + 1], u = (t - a) / (b - a);
  const mix = (i) => Math.round(parseInt(ca.slice(i, i + 2), 16) * (1 - u) + parseInt(cb.slice(i, i + 2), 16) * u);
  return `rgb(${mix(1)},${mix(3)},${mix(5)})`;
}

function link(p, inc) {
  const m = encodeURIComponent(p.model);
  return p.kind === "series" ? `/series?model=${m}#from=${inc.start}&to=${inc.end}` : `/flows?model=${m}#row=${inc.peak_at}`;
}

async function fetchJSON(url) {
  const r = await fetch(url, { credentials: "same-origin" });
  const out = await r.json();
  if (!r.ok) throw new Error(out.detail || r.status);
  return out;
}

const COLUMNS = [
  ["incident_id", "#"], ["start", "start"], ["end", "end"], ["duration", "duration"], ["n_flagged", "flagged"],
  ["peak_score", "peak score"], ["severity", "severity"], ["top", "top channels / features"], ["labelled", "truth"], [null, ""],
];

function table(p) {
  const state = { key: "severity", dir: -1 };
  const labelled = "coverage" in p;
  const cols = COLUMNS.filter(([k]) => k !== "labelled" || labelled);
  const when = (inc, side) => (inc[`${side}_time`] ? `${inc[side]} · ${inc[`${side}_time`]}` : inc[side]);
  function render() {
    const q = $("incident-search").value.trim().toLowerCase();
    const min = Number($("incident-min-severity").value) || 0;
    const truth = $("incident-truth").value;
    let rows = p.incidents.filter((inc) => (inc.severity === null ? 0 : inc.severity) >= min
      && (!truth || (labelled && String(Number(inc.labelled)) === truth))
      && (!q || [inc.top.join(" "), inc.start_time, inc.end_time, inc.incident_id, inc.start, inc.end].join(" ").toLowerCase().includes(q)));
    const val = (inc) => (state.key === "top" ? inc.top.join(",") : inc[state.key] === null ? -Infinity : Number(inc[state.key]));
    rows = rows.slice().sort((a, b) => { const x = val(a), y = val(b); return (x < y ? -1 : x > y ? 1 : a.incident_id - b.incident_id) * state.dir; });
    const head = "<tr>" + cols.map(([k, label]) => `<th data-key="${k || ""}" class="${k === state.key ? (state.dir > 0 ? "sorted-asc" : "sorted-desc") : ""}">${label}</th>`).join("") + "</tr>";
    const body = rows.map((inc) => `<tr class="incident" data-id="${inc.incident_id}">`
      + `<td>${inc.incident_id}</td><td>${fmt(when(inc, "start"))}</td><td>${fmt(when(inc, "end"))}</td><td>${fmt(inc.duration)}</td>`
      + `<td>${fmt(inc.n_flagged)}</td><td>${fmt(inc.peak_score)}</td>`
      + `<td class="sev" style="background:${colour(inc.severity)}">${inc.severity === null ? "—" : inc.severity.toFixed(0)}</td>`
      + `<td class="top">${inc.top.length ? esc(inc.top.join(", ")) : "—"}</td>`
      + (labelled ? `<td class="${inc.labelled ? "anomaly" : "normal"}">${inc.labelled ? `event ${inc.event}` : "none"}</td>` : "")
      + `<td><a class="view" href="${link(p, inc)}">view</a></td></tr>`).join("");
    $("incident-table").innerHTML = head + body;
    $("incident-shown").textContent = `${rows.length} of ${p.incidents.length}`;
    root.dataset.shown = String(rows.length);
  }
  $("incident-table").addEventListener("click", (e) => {
    const th = e.target.closest("th");
    if (!th || !th.dataset.key) return;
    state.dir = state.key === th.dataset.key ? -state.dir : -1;
    state.key = th.dataset.key;
    render();
  });
  ["incident-search", "incident-min-severity", "incident-truth"].forEach((id) => $(id).addEventListener("input", render));
  render();
}

function swimlane(payloads) {
  const lanes = payloads.map((p) => `${p.model} · ${p.data}`);
  const traces = payloads.map((p, k) => ({
    type: "bar", orientation: "h", name: p.model, y: p.incidents.map(() => lanes[k]),
    base: p.incidents.map((i) => i.start), x: p.incidents.map((i) => i.end - i.start + 1),
    marker: { color: p.incidents.map((i) => colour(i.severity)), line: { color: "#555", width: 0.5 } },
    customdata: p.incidents.map((i) => link(p, i)),
    text: p.incidents.map((i) => `#${i.incident_id} severity ${i.severity === null ? "—" : i.severity.toFixed(0)}`
      + `${i.top.length ? " · " + i.top.join(", ") : ""}${i.start_time ? " · " + i.start_time : ""}`),
    hoverinfo: "text", textposition: "none",
  }));
  payloads.forEach((p, k) => (p.events || []).forEach((e) => traces.push({
    type: "scatter", mode: "lines", y: [lanes[k], lanes[k]], x: [e.start, e.end + 1], hoverinfo: "skip",
    line: { color: "#f5b041", width: 3 }, showlegend: false, yaxis: "y",
  })));
  const layout = { barmode: "overlay", showlegend: false, height: 80 + 60 * lanes.length, margin: { t: 10, r: 20, b: 40, l: 220 },
    xaxis: { title: { text: "step (series) or evaluation row (flows); orange: labelled events" } }, yaxis: { automargin: true } };
  $("swimlane").style.height = `${layout.height}px`;
  return Plotly.react("swimlane", traces, layout, { displaylogo: false, responsive: true }).then((el) => {
    el.on("plotly_click", (ev) => { const url = ev.points[0] && ev.points[0].customdata; if (url) window.location.href = url; });
  });
}

async function main() {
  const name = root.dataset.model;
  const names = root.dataset.models.split(",").filter(Boolean);
  const all = await Promise.all(names.map((n) => fetchJSON(`/v1/models/${encodeURIComponent(n)}/incidents`).catch(() => null)));
  const p = all[names.indexOf(name)] || await fetchJSON(`/v1/models/${encodeURIComponent(name)}/incidents`);
  const cov = p.coverage;
  $("incident-summary").innerHTML = `<b id="incident-count">${p.incidents.length}</b> incidents on <b>${esc(p.data)}</b>`
    + ` (${p.kind === "series" ? "flagged steps" : "consecutive flagged evaluation rows"} merged across gaps of up to ${p.gap}, at least ${p.min_flagged} flagged each;`
    + ` severity against ${p.severity_basis === "calibration" ? "the model's normal calibration scores" : "the scored data itself (the model has no stored normal scores)"}).`
    + (cov ? ` Labelled events: <b id="event-count">${cov.events}</b>, overlapped by an incident: <b id="events-overlapped">${cov.events_overlapped}</b>;`
      + ` incidents on no labelled event: ${cov.false_incidents}.` : " The data has no labels.");
  table(p);
  await swimlane(all.filter(Boolean));
  root.dataset.ready = "1";
}

main().catch((e) => { root.dataset.error = String(e); root.insertAdjacentHTML("afterbegin", `<p class="card">cannot load the incidents: ${esc(e.message)}</p>`); });
