// Measures in real headless Chromium how long the console takes from
// navigation to the training jobs list rendered: the first page of rows
// (the console sends one page, 20 rows) with the pagination showing the
// total. `go run ./tools/bench --console-only` runs it with:
//
//   CONSOLE_URL, TOKEN, NAMESPACE ("" for every namespace), EXPECT (the
//   total), RUNS, CHROMIUM
//
// and reads one JSON line: {"ms": [...], "rows": N, "total": "...",
// "phases": {"script": [...], "stylesheet": [...], "domContentLoaded": [...],
// "whoami": [...], "list": [...], "rendered": [...]}}, in ms since navigation start.
import { chromium } from 'playwright-core';

const base = process.env.CONSOLE_URL.replace(/\/$/, '');
const token = process.env.TOKEN;
const ns = process.env.NAMESPACE;
const expect = Number(process.env.EXPECT);
const runs = Number(process.env.RUNS ?? 10);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-dev-shm-usage'],
});
const ms = [];
// Where the time goes, per run: the document loaded (scripts and styles
// parsed), who-am-I answered, the list answered (navigation start = 0).
const phases = { script: [], stylesheet: [], domContentLoaded: [], whoami: [], list: [], rendered: [] };
let rows = 0;
let total = '';
// One untimed warm-up run fills the browser's HTTP cache with the hashed
// assets, as for a returning user; each timed run is a fresh context
// (empty storage) in that browser.
for (let i = 0; i <= runs; i++) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript(
    ([t, n]) => {
      sessionStorage.setItem('mpijob-console-token', t);
      localStorage.setItem('mpijob-console-namespace', n);
    },
    [token, ns],
  );
  const page = await context.newPage();
  const start = Date.now();
  await page.goto(base + '/');
  const got = await page.waitForFunction(
    (want) => {
      const n = document.querySelectorAll('table[aria-label="Training jobs"] tbody tr').length;
      const pag = document.querySelector('.pf-v6-c-pagination')?.textContent ?? '';
      return n >= Math.min(want, 10) && pag.includes(String(want)) ? { n, pag, at: performance.now() } : null;
    },
    expect,
    { timeout: 60000, polling: 'raf' },
  );
  const elapsed = Date.now() - start;
  const v = await got.jsonValue();
  const t = await page.evaluate(() => {
    const end = (re) => performance.getEntriesByType('resource').find((e) => re.test(e.name))?.responseEnd ?? -1;
    return {
      script: end(/\/assets\/.*\.js$/),
      stylesheet: end(/\/assets\/.*\.css$/),
      domContentLoaded: performance.getEntriesByType('navigation')[0]?.domContentLoadedEventEnd ?? -1,
      whoami: end(/\/api\/v1\/whoami/),
      list: end(/\/trainingjobs/),
    };
  });
  t.rendered = v.at;
  if (i > 0) for (const k of Object.keys(phases)) phases[k].push(Math.round(t[k]));
  rows = v.n;
  total = (/of\s*(\d+)/.exec(v.pag) ?? [])[1] ?? v.pag;
  if (i > 0) ms.push(elapsed);
  await context.close();
}
await browser.close();
console.log(JSON.stringify({ ms, rows, total, phases }));
