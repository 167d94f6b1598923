// SPDX-License-Identifier: MIT
// Drives Debian's Chromium (headless, through playwright-core) against a running agent's
// dashboard: a detection from the form, then points ingested over HTTP showing up in the live
// view and an open event arriving through Server-Sent Events, without a reload. Fails on any
// console error or page error. Run by test_dashboard.py:
//   node dashboard.mjs BASE_URL SCREENSHOT_DIR NPM_PREFIX
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const [, , base, shots, prefix] = process.argv;
const require = createRequire(join(prefix, 'package.json'));
const { chromium } = require('playwright-core');
const WAIT_MS = 10000; // every wait is bounded by this
const watchdog = setTimeout(() => { console.error('FAIL: dashboard test over 120 s'); process.exit(2); }, 120000);

const T0 = Math.floor(Date.now() / 1000) - 600;
function ingestBody(n, spikeAt) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const v = i === spikeAt ? 200 : 50 + ((i * 7919) % 13) / 13;
    out.push({ resource_id: 'web-dash', metric: 'cpu', timestamp: T0 + i * 10, value: v });
  }
  return out;
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
  console.log(`ok: ${msg}`);
}

mkdirSync(shots, { recursive: true });
const browser = await chromium.launch({
  executablePath: process.env.AIOPS_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  timeout: 30000,
});
const errors = [];
let expect422 = false; // the deliberate bad input: Chromium logs the 422 response itself
let failed = false;
let page = null;
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('console', (m) => {
    if (m.type() !== 'error' || (expect422 && /status of 422/.test(m.text()))) return;
    errors.push(`console: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));

  await page.goto(`${base}/dashboard`, { waitUntil: 'load' });
  await page.waitForFunction(() => document.getElementById('stat-live').textContent === 'live');
  check(true, 'the live stream connected');
  await page.waitForFunction(() => /No series yet/.test(document.getElementById('live-status').textContent));
  check(await page.locator('#live-series li').count() === 0, 'the live view says there are no series yet');

  // The playground: a synthetic series, z-score, detect.
  await page.click('#pg-generate');
  await page.selectOption('#pg-method', 'z-score');
  await page.selectOption('#pg-sensitivity', 'medium');
  await page.focus('#pg-run');
  await page.keyboard.press('Enter'); // keyboard: the form submits from its button
  await page.waitForSelector('#pg-anomalies tbody tr:not(.empty)');
  const rows = await page.locator('#pg-anomalies tbody tr').count();
  check(rows >= 1, `the anomaly table has ${rows} rows`);
  const drawn = await page.evaluate(() => {
    const c = Chart.getChart('detect-chart');
    const meta = c.getDatasetMeta(1);
    return { line: c.data.datasets[0].data.length, marked: c.data.datasets[1].data.length,
             onCanvas: meta.data.filter((el) => Number.isFinite(el.x) && Number.isFinite(el.y)
                                         && el.x >= c.chartArea.left && el.x <= c.chartArea.right).length };
  });
  check(drawn.line === 120, `the chart draws the 120 points (${drawn.line})`);
  check(drawn.marked === rows && drawn.onCanvas === rows,
        `the chart marks the ${rows} anomalies inside its area (${drawn.marked}, ${drawn.onCanvas})`);
  check(await page.locator('#pg-events tbody tr:not(.empty)').count() >= 1, 'a grouped event is listed');
  check(/z-score: \d+ of 120 points/.test(await page.textContent('#pg-status')), 'the status sums up the run');
  await page.screenshot({ path: join(shots, 'playground.png'), fullPage: true });

  // A bad input gets a clear error, not a crash.
  expect422 = true;
  await page.fill('#pg-points', '[1,2,3]');
  await page.click('#pg-run');
  await page.waitForFunction(() => document.getElementById('pg-status').classList.contains('error'));
  await page.waitForTimeout(100);
  expect422 = false;
  check(/at least 10/.test(await page.textContent('#pg-status')), 'a too-short series shows the API\'s 422 message');

  // Live: points ingested over HTTP appear without a reload, and the spike's event arrives by SSE.
  const res = await fetch(`${base}/api/v1/ingest`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(ingestBody(60, 50)) });
  check(res.status === 200, `ingest answered ${res.status}: ${await res.text()}`);
  await page.waitForSelector('#live-series li:has-text("web-dash / cpu")');
  check(true, 'the ingested series appears in the live view');
  await page.waitForSelector('#live-events tbody tr[data-id]');
  const ev = await page.textContent('#live-events tbody tr[data-id]');
  check(/web-dash \/ cpu/.test(ev), `an open event is listed: ${ev.replace(/\s+/g, ' ').slice(0, 80)}`);
  await page.waitForFunction(() => {
    const c = Chart.getChart('live-chart');
    return c && c.data.datasets[0].data.length === 60 && c.data.datasets[1].data.length >= 1;
  });
  check(true, 'the large chart shows the series with its anomaly marked');
  await page.waitForFunction(() => document.getElementById('stat-series').textContent === '1'
    && document.getElementById('stat-events').textContent === '1');
  check(true, 'the header figures updated from the stream (1 series, 1 open event)');
  await page.waitForSelector('#live-incidents tbody tr:not(.empty)');
  check(true, 'the incident is listed');
  await page.click('#hist-form button[type=submit]');
  await page.waitForSelector('#hist-table tbody tr:has-text("web-dash")');
  check(true, 'the history lists the event');
  await page.screenshot({ path: join(shots, 'live.png'), fullPage: true });

  // A phone: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 1, `no horizontal scrolling on a phone (${overflow} px)`);
  await page.screenshot({ path: join(shots, 'phone.png'), fullPage: true });

  // The API docs render from the local document.
  const docs = await context.newPage();
  docs.setDefaultTimeout(WAIT_MS);
  docs.on('console', (m) => { if (m.type() === 'error') errors.push(`docs console: ${m.text()}`); });
  docs.on('pageerror', (e) => errors.push(`docs pageerror: ${e.message}`));
  await docs.goto(`${base}/docs`, { waitUntil: 'load' });
  await docs.waitForSelector('.opblock');
  const ops = await docs.locator('.opblock').count();
  check(ops >= 14, `the docs list ${ops} operations`);
  await docs.screenshot({ path: join(shots, 'docs.png') });
  check(errors.length === 0, `no console or page errors${errors.length ? ':\n  ' + errors.join('\n  ') : ''}`);
} catch (e) {
  failed = true;
  console.error(`FAIL: ${e.message}`);
  if (errors.length) console.error(`errors seen:\n  ${errors.join('\n  ')}`);
  if (page) {
    await page.screenshot({ path: join(shots, 'failure.png'), fullPage: true }).catch(() => {});
    console.error(`live status: ${await page.textContent('#live-status').catch(() => '?')}`);
  }
} finally {
  await browser.close();
  clearTimeout(watchdog);
}
process.exit(failed ? 1 : 0);
