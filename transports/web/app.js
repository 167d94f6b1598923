// SPDX-License-Identifier: MIT
// The dashboard: the detect playground (POST /api/v1/detect), the live view (series, open
// events and incidents, updated through the Server-Sent Events of /api/v1/stream), the event
// history and the header's figures. Plain JS; Chart.js and its date adapter are served by the
// agent under /dashboard/vendor/.
'use strict';

const $ = (id) => document.getElementById(id);
const charts = {}; // by canvas id; tests read them through Chart.getChart(id)
const state = {
  openEvents: new Map(), // id -> event, open ones only
  selected: null,        // {resource_id, metric} shown in the large chart
  seriesTimer: 0,
  incidentsTimer: 0,
};

// ---- Helpers

function esc(s) {
  return String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
function fmtTime(t) {
  const d = new Date(toMs(t));
  return isNaN(d) ? esc(t) : d.toLocaleString();
}
function fmtNum(v, digits = 3) {
  return typeof v === 'number' ? String(Math.round(v * 10 ** digits) / 10 ** digits) : esc(v);
}
// ISO strings, "2014-04-10 07:15:00", epoch seconds or ms -> ms since epoch.
function toMs(t) {
  if (typeof t === 'number') return t < 1e12 ? t * 1000 : t;
  if (/^\d+(\.\d+)?$/.test(String(t))) return toMs(Number(t));
  return Date.parse(String(t).replace(' ', 'T'));
}
function setStatus(el, msg, error = false) {
  el.textContent = msg;
  el.classList.toggle('error', error);
}
function fillTable(table, rows, emptyText) {
  const body = table.tBodies[0];
  const cols = table.tHead.rows[0].cells.length;
  body.innerHTML = rows.length ? rows.join('')
    : `<tr class="empty"><td colspan="${cols}">${esc(emptyText)}</td></tr>`;
}
async function getJSON(url, opts) {
  const res = await fetch(url, opts);
  let body = null;
  try { body = await res.json(); } catch (e) { /* not JSON: reported below */ }
  if (!res.ok) {
    const d = body && body.detail;
    const msg = Array.isArray(d) ? d.map((x) => `${(x.loc || []).join('.')}: ${x.msg}`).join('; ')
      : d || `HTTP ${res.status}`;
    throw new Error(msg);
  }
  return body;
}

// A time chart: the values as a line, anomalies as red points on top, and (when given) the
// expected band as a shaded area.
function timeChart(id, small = false) {
  if (charts[id]) return charts[id];
  const canvas = $(id) || document.querySelector(`canvas[data-id="${id}"]`);
  charts[id] = new Chart(canvas, {
    type: 'line',
    data: { datasets: [
      { label: 'value', data: [], borderColor: '#2457d6', borderWidth: small ? 1 : 1.5,
        pointRadius: 0, tension: 0.1 },
      { label: 'anomaly', data: [], type: 'scatter', showLine: false, backgroundColor: '#c62828',
        borderColor: '#7f0000', pointRadius: small ? 2.5 : 5, pointHoverRadius: 7 },
      // The forecaster's expected band, where the series' points carry one (lower/upper).
      { label: 'expected band', data: [], borderWidth: 0, pointRadius: 0, fill: '+1',
        backgroundColor: 'rgba(46,125,50,0.15)', hidden: false },
      { label: 'band low', data: [], borderWidth: 0, pointRadius: 0 },
    ] },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: false,
      normalized: true,
      interaction: { mode: 'nearest', intersect: false },
      plugins: {
        legend: { display: !small, labels: { filter: (item, data) => item.datasetIndex < 2
          || (item.datasetIndex === 2 && data.datasets[2].data.length > 0) } },
        tooltip: { enabled: !small },
      },
      scales: {
        x: { type: 'time', display: !small, ticks: { maxRotation: 0, autoSkip: true } },
        y: { display: !small, beginAtZero: false },
      },
    },
  });
  return charts[id];
}
function drawSeries(chart, points) {
  // points: [{t: ms, v: number, anomaly: bool, lower?, upper?}]
  chart.data.datasets[0].data = points.map((p) => ({ x: p.t, y: p.v }));
  chart.data.datasets[1].data = points.filter((p) => p.anomaly).map((p) => ({ x: p.t, y: p.v }));
  const banded = points.filter((p) => Number.isFinite(p.lower) && Number.isFinite(p.upper));
  chart.data.datasets[2].data = banded.map((p) => ({ x: p.t, y: p.upper }));
  chart.data.datasets[3].data = banded.map((p) => ({ x: p.t, y: p.lower }));
  chart.update('none');
}

// ---- Detect playground

// JSON (array of numbers or {timestamp, value}) or CSV ("timestamp,value" or one value a line).
function parsePoints(text) {
  const s = text.trim();
  if (!s) throw new Error('enter some points, or generate a series');
  const now = Date.now();
  const spaced = (v, i, n) => ({ timestamp: new Date(now - (n - i) * 60000).toISOString(), value: v });
  if (s[0] === '[' || s[0] === '{') {
    let j;
    try { j = JSON.parse(s); } catch (e) { throw new Error(`not valid JSON: ${e.message}`); }
    if (!Array.isArray(j)) j = j.data || (j.series && j.series[0] && j.series[0].data);
    if (!Array.isArray(j)) throw new Error('JSON must be an array of points');
    return j.map((p, i) => {
      if (typeof p === 'number') return spaced(p, i, j.length);
      if (p && typeof p.value === 'number' && p.timestamp !== undefined) return { timestamp: p.timestamp, value: p.value };
      throw new Error(`point ${i} needs a timestamp and a numeric value`);
    });
  }
  const lines = s.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (lines.length && !/\d/.test(lines[0].split(/[,;\t]/).pop())) lines.shift(); // a header
  return lines.map((l, i) => {
    const f = l.split(/[,;\t]/).map((x) => x.trim());
    const v = Number(f[f.length - 1]);
    if (f[f.length - 1] === '' || !Number.isFinite(v)) throw new Error(`line ${i + 1}: "${l}" has no numeric value`);
    if (f.length === 1) return spaced(v, i, lines.length);
    const t = /^\d+(\.\d+)?$/.test(f[0]) ? Number(f[0]) : f[0];
    return { timestamp: t, value: v };
  });
}

function generateSeries() {
  const n = 120, start = Date.now() - n * 60000;
  const at = 60 + Math.floor(Math.random() * 40);
  const pts = [];
  for (let i = 0; i < n; i++) {
    let v = 50 + 10 * Math.sin((2 * Math.PI * i) / 60) + (Math.random() - 0.5) * 3;
    if (i >= at && i < at + 3) v += 45; // the injected anomaly: a 3-minute spike
    pts.push({ timestamp: new Date(start + i * 60000).toISOString(), value: Math.round(v * 100) / 100 });
  }
  $('pg-points').value = JSON.stringify(pts);
  setStatus($('pg-status'), `Generated ${n} points with a spike at point ${at}.`);
}

async function runDetect(ev) {
  ev.preventDefault();
  const status = $('pg-status');
  let data;
  try { data = parsePoints($('pg-points').value); } catch (e) { setStatus(status, e.message, true); return; }
  const req = {
    series: [{ resource_id: $('pg-resource').value, metric_name: $('pg-metric').value, data }],
    method: $('pg-method').value, sensitivity: $('pg-sensitivity').value,
  };
  $('pg-run').disabled = true;
  setStatus(status, 'Detecting…');
  try {
    const res = await getJSON('/api/v1/detect', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(req) });
    const r = res.results[0];
    const anomalous = new Set(r.anomalies.map((a) => toMs(a.timestamp)));
    drawSeries(timeChart('detect-chart'),
      data.map((p) => ({ t: toMs(p.timestamp), v: p.value, anomaly: anomalous.has(toMs(p.timestamp)) })));
    fillTable($('pg-anomalies'), r.anomalies.map((a) =>
      `<tr><td>${fmtTime(a.timestamp)}</td><td>${fmtNum(a.value)}</td><td>${fmtNum(a.score)}</td><td>${esc(a.reason)}</td></tr>`),
      'No anomalies found: try a higher sensitivity.');
    fillTable($('pg-events'), (res.grouped_events || []).map((e) =>
      `<tr><td>${fmtTime(e.start_time)}</td><td>${fmtTime(e.end_time)}</td><td>${e.anomaly_points}</td><td>${fmtNum(e.peak_value)}</td><td>${fmtNum(e.priority)}</td></tr>`),
      'No grouped events.');
    setStatus(status, `${r.method_used}: ${r.anomaly_count} of ${r.total_points} points anomalous (${r.anomaly_percentage}%) in ${fmtNum(r.detection_time_ms)} ms.`);
  } catch (e) {
    setStatus(status, `Detection failed: ${e.message}`, true);
  } finally {
    $('pg-run').disabled = false;
  }
}

async function loadMethods() {
  try {
    const res = await getJSON('/methods');
    const sel = $('pg-method');
    sel.innerHTML = res.methods.map((m) => `<option value="${esc(m.name)}" title="${esc(m.description)}">${esc(m.name)}</option>`).join('');
    sel.value = 'z-score';
  } catch (e) { setStatus($('pg-status'), `Could not list methods: ${e.message}`, true); }
}

// ---- Live view

const seriesPath = (s) => `/api/v1/series/${encodeURIComponent(s.resource_id)}/${encodeURIComponent(s.metric)}`;
const pointsOf = (res) => res.data.map((p) => ({
  t: toMs(p.timestamp), v: p.value, anomaly: p.is_anomaly, lower: p.lower, upper: p.upper }));

async function loadSeries() {
  const status = $('live-status');
  const q = $('live-search').value.trim();
  let res;
  try {
    res = await getJSON(`/api/v1/series?limit=24${q ? `&q=${encodeURIComponent(q)}` : ''}`);
  } catch (e) { setStatus(status, `Could not load series: ${e.message}`, true); return; }
  setStatus(status, res.total ? `${res.total} series${res.total > res.series.length ? ` (first ${res.series.length})` : ''}`
    : q ? `No series match "${q}".` : 'No series yet: the agent has not received any points.');
  const list = $('live-series');
  const keep = new Set();
  res.series.forEach((s, i) => {
    const key = `${s.resource_id}\u0000${s.metric}`;
    keep.add(key);
    let li = [...list.children].find((x) => x.dataset.key === key);
    if (!li) {
      li = document.createElement('li');
      li.dataset.key = key;
      const id = `spark-${Math.random().toString(36).slice(2)}`;
      li.innerHTML = `<button type="button" aria-pressed="false"><span class="name"></span><span class="meta"></span>
        <div class="spark"><canvas data-id="${id}" aria-hidden="true"></canvas></div></button>`;
      li.dataset.chart = id;
      li.querySelector('button').addEventListener('click', () => selectSeries(s));
      list.appendChild(li);
    }
    if (list.children[i] !== li) list.insertBefore(li, list.children[i]);
    li.querySelector('.name').textContent = `${s.resource_id} / ${s.metric}`;
    li.querySelector('.meta').innerHTML = `${s.points} points · anomaly rate ${fmtNum(s.anomaly_rate * 100, 2)}%`
      + (s.open_event ? ' · <span class="has-event">open event</span>' : '');
    li.querySelector('button').setAttribute('aria-pressed', String(!!state.selected && key === `${state.selected.resource_id}\u0000${state.selected.metric}`));
    getJSON(seriesPath(s)).then((pts) => drawSeries(timeChart(li.dataset.chart, true), pointsOf(pts)))
      .catch(() => {}); // evicted meanwhile: the next refresh drops the card
  });
  [...list.children].forEach((li) => {
    if (!keep.has(li.dataset.key)) {
      if (charts[li.dataset.chart]) { charts[li.dataset.chart].destroy(); delete charts[li.dataset.chart]; }
      li.remove();
    }
  });
  if (!state.selected && res.series.length) selectSeries(res.series[0]);
  else if (state.selected) loadSelected();
}

function selectSeries(s) {
  state.selected = { resource_id: s.resource_id, metric: s.metric };
  const key = `${s.resource_id}\u0000${s.metric}`;
  [...$('live-series').children].forEach((li) =>
    li.querySelector('button').setAttribute('aria-pressed', String(li.dataset.key === key)));
  loadSelected();
}

async function loadSelected() {
  const s = state.selected;
  if (!s) return;
  try {
    const res = await getJSON(seriesPath(s));
    $('live-chart-title').textContent = `${s.resource_id} / ${s.metric} (${res.methods.join(', ')}): ` +
      `${res.anomalies} anomalies in ${res.points} points`;
    drawSeries(timeChart('live-chart'), pointsOf(res));
  } catch (e) {
    $('live-chart-title').textContent = `${s.resource_id} / ${s.metric}: ${e.message}`;
  }
}

function renderOpenEvents() {
  const evs = [...state.openEvents.values()].sort((a, b) => b.priority - a.priority);
  fillTable($('live-events'), evs.map((e) =>
    `<tr data-id="${esc(e.id)}"><td>${fmtNum(e.priority)}</td><td class="sev-${esc(e.severity)}">${esc(e.severity)}</td>` +
    `<td>${esc(e.resource_id)} / ${esc(e.metric)}</td><td>${fmtTime(e.start_time)}</td><td>${e.anomaly_points}</td><td>${esc(e.reason)}</td></tr>`),
    'No open events.');
}

async function loadOpenEvents() {
  try {
    const res = await getJSON('/api/v1/events?status=open&limit=200');
    state.openEvents = new Map(res.events.map((e) => [e.id, e]));
    renderOpenEvents();
  } catch (e) { fillTable($('live-events'), [], `Could not load events: ${e.message}`); }
}

async function loadIncidents() {
  try {
    const res = await getJSON('/api/v1/incidents?limit=50');
    const incs = res.incidents.sort((a, b) => (a.status === b.status ? b.priority - a.priority : a.status === 'open' ? -1 : 1));
    fillTable($('live-incidents'), incs.map((i) =>
      `<tr><td>${fmtNum(i.priority)}</td><td>${esc(i.key)}</td><td>${esc(i.status)}</td><td>${i.open_events} open / ${i.events}</td><td>${fmtTime(i.start_time)}</td></tr>`),
      'No incidents.');
  } catch (e) { fillTable($('live-incidents'), [], `Could not load incidents: ${e.message}`); }
}

// Coalesces bursts of events into one refresh.
function soon(timerName, fn, ms) {
  clearTimeout(state[timerName]);
  state[timerName] = setTimeout(fn, ms);
}

function onEvent(msg) {
  const e = JSON.parse(msg.data);
  if (e.status === 'open') state.openEvents.set(e.id, e);
  else state.openEvents.delete(e.id);
  renderOpenEvents();
  soon('incidentsTimer', loadIncidents, 300);
  soon('seriesTimer', loadSeries, 300);
}

function onStats(msg) {
  const s = JSON.parse(msg.data);
  $('stat-rate').textContent = fmtNum(s.points_per_second, 1);
  $('stat-series').textContent = s.series;
  $('stat-events').textContent = s.open_events;
  // New points without an event still move the charts: refresh at the stats' pace.
  if (s.points_total !== state.lastPoints) {
    state.lastPoints = s.points_total;
    soon('seriesTimer', loadSeries, 100);
  }
}

function connectStream() {
  const live = $('stat-live');
  const es = new EventSource('/api/v1/stream');
  es.addEventListener('open', () => { live.textContent = 'live'; live.className = 'pill ok'; loadOpenEvents(); });
  es.addEventListener('event', onEvent);
  es.addEventListener('stats', onStats);
  // EventSource reconnects by itself (retry: 2000 from the agent).
  es.addEventListener('error', () => { live.textContent = 'reconnecting'; live.className = 'pill bad'; });
}

async function loadHealth() {
  const el = $('stat-store');
  try {
    const h = await getJSON('/health');
    el.textContent = h.database_connected ? 'connected' : 'not connected';
    el.className = h.database_connected ? '' : 'sev-major';
  } catch (e) { el.textContent = 'agent unreachable'; el.className = 'sev-critical'; }
}

// ---- History

async function loadHistory(ev) {
  if (ev) ev.preventDefault();
  // The store keeps every event; the pipeline's memory only the open and the latest resolved.
  const p = new URLSearchParams({ source: 'store', limit: '200' });
  const r = $('hist-resource').value.trim(), st = $('hist-status').value;
  const mp = $('hist-priority').value, since = $('hist-since').value;
  if (r) p.set('resource', r);
  if (st) p.set('status', st);
  if (mp && Number(mp) > 0) p.set('min_priority', mp);
  if (since) p.set('since', new Date(since).toISOString().replace(/\.\d+Z$/, 'Z'));
  const msg = $('hist-status-msg');
  try {
    const res = await getJSON(`/api/v1/events?${p}`);
    fillTable($('hist-table'), res.events.map((e) =>
      `<tr><td>${fmtTime(e.start_time)}</td><td>${fmtTime(e.end_time)}</td><td>${esc(e.resource_id)} / ${esc(e.metric)}</td>` +
      `<td>${esc(e.status)}</td><td class="sev-${esc(e.severity)}">${esc(e.severity)}</td><td>${fmtNum(e.priority)}</td>` +
      `<td>${e.anomaly_points}</td><td>${esc(e.method)}</td></tr>`), 'No events match these filters.');
    setStatus(msg, `${res.events.length} events`);
  } catch (e) {
    setStatus(msg, `Could not load events: ${e.message}`, true);
    fillTable($('hist-table'), [], 'Could not load events.');
  }
}

// ---- Start

function start() {
  $('pg-generate').addEventListener('click', generateSeries);
  $('detect-form').addEventListener('submit', runDetect);
  $('hist-form').addEventListener('submit', loadHistory);
  $('live-search').addEventListener('input', () => soon('seriesTimer', loadSeries, 250));
  loadMethods();
  loadSeries();
  loadOpenEvents();
  loadIncidents();
  loadHistory();
  loadHealth();
  setInterval(loadHealth, 10000);
  connectStream();
}

if (typeof Chart === 'undefined') {
  document.addEventListener('DOMContentLoaded', () => {
    document.getElementById('main').insertAdjacentHTML('afterbegin',
      '<p class="card status error">The chart library did not load; reload the page.</p>');
  });
}
window.addEventListener('DOMContentLoaded', start);
