// Incidents page: the model's incidents (merged flagged steps or rows) in a sortable, filterable
// table that links each to the series or flows page, with the labelled truth; a series model's
// stream incidents per entity (stream id) in a second table; above them a swimlane of entities ×
// time coloured by severity: one lane per model's dashboard data (per entity with --entity-col)
// and one per stream (entity).
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
  const e = inc.entity !== undefined && p.entity_col ? `&entity=${encodeURIComponent(inc.entity)}` : "";
  return p.kind === "series" ? `/series?model=${m}${e}#from=${inc.start}&to=${inc.end}` : `/flows?model=${m}#row=${inc.peak_at}`;
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

const TEXT_KEYS = ["entity", "status"];

function sortable(el, rows, cols, cell, keep, done) { // click a header to sort (again: reverse)
  const state = { key: "severity", dir: -1 };
  function render() {
    const val = (inc) => (state.key === "top" ? inc.top.join(",") : TEXT_KEYS.includes(state.key) ? String(inc[state.key])
      : inc[state.key] === null ? -Infinity : Number(inc[state.key]));
    const shown = rows.filter(keep).sort((a, b) => { const x = val(a), y = val(b); return (x < y ? -1 : x > y ? 1 : a.incident_id - b.incident_id) * state.dir; });
    const head = "<tr>" + cols.map(([k, label]) => `<th data-key="${k || ""}" class="${k === state.key ? (state.dir > 0 ? "sorted-asc" : "sorted-desc") : ""}">${label}</th>`).join("") + "</tr>";
    el.innerHTML = head + shown.map(cell).join("");
    done(shown.length);
  }
  el.addEventListener("click", (e) => {
    const th = e.target.closest("th");
    if (!th || !th.dataset.key) return;
    state.dir = state.key === th.dataset.key ? -state.dir : -1;
    state.key = th.dataset.key;
    render();
  });
  render();
  return render;
}

const when = (inc, side) => (inc[`${side}_time`] ? `${inc[side]} · ${inc[`${side}_time`]}` : inc[side]);
const sevCell = (inc) => `<td class="sev" style="background:${colour(inc.severity)}">${inc.severity === null ? "—" : inc.severity.toFixed(0)}</td>`;
const topCell = (inc) => `<td class="top">${inc.top.length ? esc(inc.top.join(", ")) : "—"}</td>`;

function table(p) {
  const labelled = "coverage" in p;
  const byEntity = Boolean(p.entity_col); // --entity-col: each incident is on one entity's series
  const cols = [...(byEntity ? [["entity", esc(p.entity_col)]] : []), ...COLUMNS.filter(([k]) => k !== "labelled" || labelled)];
  const keep = (inc) => {
    const q = $("incident-search").value.trim().toLowerCase();
    const min = Number($("incident-min-severity").value) || 0;
    const truth = $("incident-truth").value;
    return (inc.severity === null ? 0 : inc.severity) >= min
      && (!truth || (labelled && String(Number(inc.labelled)) === truth))
      && (!q || [inc.top.join(" "), inc.start_time, inc.end_time, inc.incident_id, inc.start, inc.end, inc.entity || ""].join(" ").toLowerCase().includes(q));
  };
  const cell = (inc) => `<tr class="incident" data-id="${inc.incident_id}"${byEntity ? ` data-entity="${esc(inc.entity)}"` : ""}>`
    + (byEntity ? `<td class="entity">${esc(inc.entity)}</td>` : "") + `<td>${inc.incident_id}</td><td>${fmt(when(inc, "start"))}</td><td>${fmt(when(inc, "end"))}</td><td>${fmt(inc.duration)}</td>`
    + `<td>${fmt(inc.n_flagged)}</td><td>${fmt(inc.peak_score)}</td>` + sevCell(inc) + topCell(inc)
    + (labelled ? `<td class="${inc.labelled ? "anomaly" : "normal"}">${inc.labelled ? `event ${inc.event}` : "none"}</td>` : "")
    + `<td><a class="view" href="${link(p, inc)}">view</a></td></tr>`;
  const render = sortable($("incident-table"), p.incidents, cols, cell, keep, (n) => {
    $("incident-shown").textContent = `${n} of ${p.incidents.length}`;
    root.dataset.shown = String(n);
  });
  ["incident-search", "incident-min-severity", "incident-truth"].forEach((id) => $(id).addEventListener("input", render));
}

const STREAM_COLUMNS = [
  ["entity", "entity"], ["incident_id", "#"], ["start", "start"], ["end", "end"], ["n_flagged", "flagged"],
  ["peak_score", "peak score"], ["severity", "severity"], ["top", "top channels"], ["status", "status"],
];

function streamTable(s) { // a series model's stream incidents, each with its entity (the stream id)
  const rows = s.streams.flatMap((st) => st.incidents);
  const entities = s.streams.map((st) => st.entity);
  $("stream-entity").insertAdjacentHTML("beforeend", entities.map((e) => `<option value="${esc(e)}">${esc(e)}</option>`).join(""));
  $("stream-summary").innerHTML = `<b id="stream-incident-count">${rows.length}</b> incidents on <b id="stream-entity-count">${entities.length}</b>`
    + ` stream${entities.length === 1 ? "" : "s"} (entities) of ${esc(s.model)}, since the server started`
    + (entities.length ? "." : ": none yet. Append points with <code>POST /v1/models/NAME/streams/ENTITY</code>.");
  const keep = (inc) => (!$("stream-entity").value || inc.entity === $("stream-entity").value)
    && (inc.severity === null ? 0 : inc.severity) >= (Number($("stream-min-severity").value) || 0);
  const cell = (inc) => `<tr class="stream-incident" data-entity="${esc(inc.entity)}" data-id="${inc.incident_id}">`
    + `<td class="entity">${esc(inc.entity)}</td><td>${inc.incident_id}</td><td>${fmt(when(inc, "start"))}</td><td>${fmt(when(inc, "end"))}</td>`
    + `<td>${fmt(inc.n_flagged)}</td><td>${fmt(inc.peak_score)}</td>` + sevCell(inc) + topCell(inc) + `<td>${esc(inc.status)}</td></tr>`;
  const render = sortable($("stream-table"), rows, STREAM_COLUMNS, cell, keep, (n) => {
    $("stream-shown").textContent = `${n} of ${rows.length}`;
    root.dataset.streamShown = String(n);
  });
  ["stream-entity", "stream-min-severity"].forEach((id) => $(id).addEventListener("input", render));
}

function swimlane(payloads, streams) { // lanes: each model's dashboard data, then each stream (entity)
  const lanes = payloads.flatMap((p) => (p.entity_col // one lane per entity of the start-up data
    ? p.entities.map((e) => ({ label: `${p.model} · ${e.data}`, p, incidents: p.incidents.filter((i) => i.entity === e.entity),
      events: (p.events || []).filter((v) => v.entity === e.entity) }))
    : [{ label: `${p.model} · ${p.data}`, p, incidents: p.incidents, events: p.events || [] }]));
  streams.forEach((s) => s.streams.forEach((st) => lanes.push({ label: `${s.model} · ${st.entity}`, p: null, incidents: st.incidents, events: [] })));
  const names = lanes.map((l) => l.label);
  const traces = lanes.map((l) => ({
    type: "bar", orientation: "h", name: l.label, y: l.incidents.map(() => l.label),
    base: l.incidents.map((i) => i.start), x: l.incidents.map((i) => i.end - i.start + 1),
    marker: { color: l.incidents.map((i) => colour(i.severity)), line: { color: "#555", width: 0.5 } },
    customdata: l.incidents.map((i) => (l.p ? link(l.p, i) : null)),
    text: l.incidents.map((i) => `${l.p ? "" : esc(i.entity) + " · "}#${i.incident_id} severity ${i.severity === null ? "—" : i.severity.toFixed(0)}`
      + `${i.top.length ? " · " + i.top.join(", ") : ""}${i.start_time ? " · " + i.start_time : ""}`),
    hoverinfo: "text", textposition: "none",
  }));
  traces.push({ type: "scatter", mode: "markers", y: names, x: names.map(() => 0), marker: { opacity: 0 },
    hoverinfo: "skip", showlegend: false }); // every lane, also an entity without incidents yet
  lanes.forEach((l) => l.events.forEach((e) => traces.push({
    type: "scatter", mode: "lines", y: [l.label, l.label], x: [e.start, e.end + 1], hoverinfo: "skip",
    line: { color: "#f5b041", width: 3 }, showlegend: false, yaxis: "y",
  })));
  const lane = Math.max(26, Math.min(60, 900 / Math.max(1, names.length)));
  const layout = { barmode: "overlay", showlegend: false, height: 80 + lane * names.length, margin: { t: 10, r: 20, b: 40, l: 220 },
    xaxis: { title: { text: "step (series, streams) or evaluation row (flows); orange: labelled events" } },
    yaxis: { automargin: true, type: "category", categoryorder: "array", categoryarray: names } };
  $("swimlane").style.height = `${layout.height}px`;
  root.dataset.lanes = String(names.length);
  return Plotly.react("swimlane", traces, layout, { displaylogo: false, responsive: true }).then((el) => {
    el.on("plotly_click", (ev) => { const url = ev.points[0] && ev.points[0].customdata; if (url) window.location.href = url; });
  });
}

async function main() {
  const name = root.dataset.model;
  const split = (v) => (v || "").split(",").filter(Boolean);
  const names = split(root.dataset.models), streamed = split(root.dataset.streamModels);
  const all = await Promise.all(names.map((n) => fetchJSON(`/v1/models/${encodeURIComponent(n)}/incidents`).catch(() => null)));
  const streams = await Promise.all(streamed.map((n) => fetchJSON(`/v1/models/${encodeURIComponent(n)}/streams`).catch(() => null)));
  const p = names.includes(name) ? all[names.indexOf(name)] || await fetchJSON(`/v1/models/${encodeURIComponent(name)}/incidents`) : null;
  const s = streamed.includes(name) ? streams[streamed.indexOf(name)] || await fetchJSON(`/v1/models/${encodeURIComponent(name)}/streams`) : null;
  if (p) {
    const cov = p.coverage;
    $("incident-summary").innerHTML = `<b id="incident-count">${p.incidents.length}</b> incidents on <b>${esc(p.data)}</b>`
      + ` (${p.kind === "series" ? "flagged steps" : "consecutive flagged evaluation rows"} merged across gaps of up to ${p.gap}, at least ${p.min_flagged} flagged each;`
      + ` severity against ${p.severity_basis === "calibration" ? "the model's normal calibration scores" : "the scored data itself (the model has no stored normal scores)"}).`
      + (cov ? ` Labelled events: <b id="event-count">${cov.events}</b>, overlapped by an incident: <b id="events-overlapped">${cov.events_overlapped}</b>;`
        + ` incidents on no labelled event: ${cov.false_incidents}.` : " The data has no labels.");
    table(p);
  } else {
    $("incident-summary").innerHTML = "No dashboard data for this model (start the server with --series-data): its streams' incidents are below.";
    $("list").hidden = true;
  }
  if (s) streamTable(s);
  await swimlane(all.filter(Boolean), streams.filter(Boolean));
  root.dataset.ready = "1";
}

main().catch((e) => { root.dataset.error = String(e); root.insertAdjacentHTML("afterbegin", `<p class="card">cannot load the incidents: ${esc(e.message)}</p>`); });
