// Browser end-to-end test of the console in real headless Chromium,
// driven by playwright-core. test/e2e/console (TestBrowser) starts the dev
// cluster, the manager and the console, prepares the users and jobs, and
// runs this script with:
//
//   CONSOLE_URL      the console's base URL
//   ALICE_TOKEN, BOB_TOKEN, ROOT_TOKEN   bearer tokens of team A, team B, an admin
//   TEAM_A, TEAM_B   the teams' namespaces; QUOTA_NS a namespace of alice's
//                    whose ResourceQuota allows 2 GPUs
//   FAILED_JOB       a failed MPIJob in TEAM_A; BOB_JOB an MPIJob in TEAM_B
//   CHROMIUM         the browser (default /usr/bin/chromium)
//   SCREENSHOTS      where console-<page>.png go (1280x800)
//   REPORT           where the JSON report goes
//
// Every scenario runs even when one before it failed; the exit code is 1
// when any scenario failed or any page has a serious or critical axe-core
// violation. The report lists scenarios, axe results and screenshots.
import { chromium } from 'playwright-core';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(import.meta.url);
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) throw new Error(`${name} is not set`);
  return v;
};
const base = env('CONSOLE_URL').replace(/\/$/, '');
const teamA = env('TEAM_A');
const teamB = env('TEAM_B');
const quotaNS = env('QUOTA_NS');
const failedJob = env('FAILED_JOB');
const bobJob = env('BOB_JOB');
const shots = env('SCREENSHOTS');
const wizardJob = process.env.WIZARD_JOB ?? 'wizard-4';
const timeoutMs = Number(process.env.JOB_TIMEOUT_MS ?? 180000);

const report = { scenarios: [], axe: [], screenshots: [] };

async function scenario(name, fn) {
  const start = Date.now();
  try {
    await fn();
    report.scenarios.push({ name, ok: true, ms: Date.now() - start });
    console.error(`ok   ${name} (${Date.now() - start} ms)`);
  } catch (e) {
    report.scenarios.push({ name, ok: false, ms: Date.now() - start, error: String(e?.stack ?? e) });
    console.error(`FAIL ${name}: ${e?.stack ?? e}`);
  }
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// audit runs axe-core on the page as it is and keeps a screenshot.
async function audit(page, name) {
  await page.addScriptTag({ content: axeSource });
  const violations = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.length,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(' ')),
    }));
  });
  report.axe.push({ page: name, url: page.url(), violations });
  const file = path.join(shots, `console-${name}.png`);
  await page.screenshot({ path: file });
  report.screenshots.push(file);
}

async function signIn(browser, token, expectHeading) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true, reducedMotion: 'reduce' });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  await page.goto(base + '/');
  await page.locator('#token').waitFor();
  return { context, page, finish: async (auditName) => {
    if (auditName) await audit(page, auditName);
    await page.locator('#token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: expectHeading }).waitFor();
  } };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', '--disable-dev-shm-usage', '--no-default-browser-check'],
});
fs.mkdirSync(shots, { recursive: true });

const alice = await signIn(browser, env('ALICE_TOKEN'), `Training jobs in ${teamA}`);
let page = alice.page;

await scenario('alice signs in with her token', async () => {
  await alice.finish('sign-in');
});

await scenario('the list shows alice her jobs, not bob’s', async () => {
  await page.getByRole('link', { name: failedJob }).waitFor();
  check((await page.getByText(bobJob).count()) === 0, `bob's job ${bobJob} is listed to alice`);
  await audit(page, 'jobs');
});

await scenario('alice creates a 4-worker job with the wizard, without YAML', async () => {
  await page.getByRole('link', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { name: 'Create an MPIJob' }).waitFor();
  await page.locator('#f-name').fill(wizardJob);
  await audit(page, 'create-basic');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.locator('#f-image').fill('example.invalid/mpi-pi:openmpi');
  await page.locator('#f-command').fill('mpirun -n 4 python /opt/pi.py');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Workers', { exact: true }).fill('4');
  await page.getByLabel('GPUs per worker', { exact: true }).fill('1');
  await page.locator('#f-cpu').fill('1');
  await page.locator('#f-memory').fill('1Gi');
  await audit(page, 'create-resources');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByText('The cluster accepted this job in a dry run').waitFor();
  const yaml = await page.locator('pre').first().innerText();
  check(/replicas: 4/.test(yaml), `the review's YAML has no "replicas: 4":\n${yaml}`);
  await audit(page, 'create-review');
  await page.getByRole('button', { name: 'Create', exact: true }).last().click();
  await page.waitForURL(`**/jobs/${teamA}/${wizardJob}`);
  await page.getByRole('heading', { name: wizardJob }).waitFor();
});

// While the job runs (its launcher's "program" ends 10 s after it starts),
// alice reads the launcher's and a worker's log. Where the cluster serves
// no logs (kwok without its log simulation) the console must show the
// apiserver's reason within seconds, not spin.
await scenario('alice reads the launcher and worker logs while the job runs (or the cluster’s clear reason why not)', async () => {
  await page.getByRole('heading', { name: wizardJob }).getByText('Running').waitFor({ timeout: timeoutMs });
  await page.getByRole('tab', { name: 'Logs' }).click();
  for (const pod of ['launcher', 'worker-0']) {
    await page.getByLabel('Pod', { exact: true }).selectOption(pod);
    // Either lines arrive or the page says why not, within seconds, also
    // when it follows the log.
    const line = page.locator('.pf-v6-c-log-viewer__text').filter({ hasText: /\S/ });
    await page.getByText('Logs unavailable').or(line).first().waitFor({ timeout: 30000 });
    const unavailable = await page.getByText('Logs unavailable').count();
    const text = unavailable ? await page.locator('.pf-v6-c-alert').filter({ hasText: 'Logs unavailable' }).innerText() : '';
    if (unavailable) check(text.replace('Logs unavailable', '').trim().length > 10, `${pod}: the logs alert says nothing: ${text}`);
    report[`logs-${pod}`] = unavailable ? text : `${await line.count()} lines shown`;
    if (pod === 'launcher') await audit(page, 'details-logs');
  }
});

await scenario('alice watches the job reach Succeeded', async () => {
  await page.getByRole('tab', { name: 'Overview' }).click();
  await page.getByRole('heading', { name: wizardJob }).getByText('Succeeded').waitFor({ timeout: timeoutMs });
  await audit(page, 'details-overview');
});

await scenario('the other tabs render', async () => {
  for (const [tab, name, wait] of [
    ['Workers', 'details-workers', () => page.locator('table[aria-label="Pods"]').or(page.getByText(/no pods/i)).first().waitFor()],
    ['Configuration', 'details-configuration', () => page.getByText('apiVersion: kubeflow.org/v2beta1').first().waitFor()],
    ['Events', 'details-events', () => page.locator('table[aria-label="Events"]').or(page.getByText(/no events/i)).first().waitFor()],
    ['Metrics', 'details-metrics', () => page.getByRole('tabpanel').first().waitFor()],
  ]) {
    await page.getByRole('tab', { name: tab }).click();
    await wait();
    await audit(page, name);
  }
});

await scenario('a failed job shows its diagnosis in Overview', async () => {
  await page.goto(`${base}/jobs/${teamA}/${failedJob}`);
  await page.getByRole('heading', { name: failedJob }).getByText('Failed').waitFor({ timeout: timeoutMs });
  const diag = page.locator('.pf-v6-c-alert').filter({ hasText: 'Diagnosis:' });
  await diag.waitFor();
  report.diagnosis = await diag.innerText();
  await audit(page, 'details-failed');
});

await scenario('an over-quota job shows the quota message at review, before anything is created', async () => {
  await page.getByRole('link', { name: 'Create', exact: true }).click();
  await page.locator('#f-namespace').fill(quotaNS);
  await page.locator('#f-name').fill('too-big');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.locator('#f-image').fill('example.invalid/mpi-pi:openmpi');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByLabel('Workers', { exact: true }).fill('4');
  await page.getByLabel('GPUs per worker', { exact: true }).fill('1');
  await page.getByRole('button', { name: 'Next' }).click();
  await page.getByRole('button', { name: 'Next' }).click();
  const alert = page.locator('.pf-v6-c-alert').filter({ hasText: 'Over quota' });
  await alert.waitFor();
  const text = await alert.innerText();
  check(/can never run/.test(text) && /requests\.nvidia\.com\/gpu: requested 4/.test(text), `quota message: ${text}`);
  check(await page.getByRole('button', { name: 'Create', exact: true }).last().isDisabled(), 'Create is enabled on an over-quota job');
  report.quotaMessage = text;
  await audit(page, 'create-over-quota');
  const status = await page.evaluate(async ([ns]) => {
    const r = await fetch(`/api/v1/namespaces/${ns}/mpijobs/too-big`, { headers: { Authorization: `Bearer ${sessionStorage.getItem('mpijob-console-token')}` } });
    return r.status;
  }, [quotaNS]);
  check(status === 404, `the over-quota job exists (GET answered ${status})`);
});

await scenario('alice cannot see bob’s jobs', async () => {
  await page.goto(`${base}/jobs/${teamB}/${bobJob}`);
  await page.locator('.pf-v6-c-alert').first().waitFor();
  const text = await page.locator('.pf-v6-c-alert').first().innerText();
  check(/forbidden|cannot/i.test(text), `bob's job page for alice: ${text}`);
  await audit(page, 'forbidden');
  await page.goto(`${base}/`);
  await page.getByLabel('Namespace', { exact: true }).fill(teamB);
  await page.getByRole('heading', { name: `Training jobs in ${teamB}` }).waitFor();
  await page.locator('.pf-v6-c-alert').first().waitFor();
  check((await page.getByText(bobJob).count()) === 0, `bob's job ${bobJob} is listed to alice`);
  const codes = await page.evaluate(async ([ns, job]) => {
    const h = { Authorization: `Bearer ${sessionStorage.getItem('mpijob-console-token')}` };
    const out = [];
    for (const p of [`/api/v1/namespaces/${ns}/mpijobs`, `/api/v1/namespaces/${ns}/mpijobs/${job}`, `/api/v1/namespaces/${ns}/mpijobs/${job}/logs`, '/api/v1/mpijobs']) {
      out.push((await fetch(p, { headers: h })).status);
    }
    return out;
  }, [teamB, bobJob]);
  check(codes.every((c) => c === 403 || c === 404), `alice's API calls into team B answered ${codes}`);
  await page.getByLabel('Namespace', { exact: true }).fill(teamA);
});
await alice.context.close();

await scenario('bob sees his job and not alice’s', async () => {
  const bob = await signIn(browser, env('BOB_TOKEN'), `Training jobs in ${teamB}`);
  await bob.finish();
  await bob.page.getByRole('link', { name: bobJob }).waitFor();
  check((await bob.page.getByText(wizardJob).count()) === 0 && (await bob.page.getByText(failedJob).count()) === 0, "alice's jobs are listed to bob");
  check((await bob.page.getByRole('link', { name: 'Admin' }).count()) === 0, 'bob sees the Admin view');
  await bob.context.close();
});

await scenario('the admin sees the admin view', async () => {
  const root = await signIn(browser, env('ROOT_TOKEN'), /Training jobs in/);
  await root.finish();
  await root.page.getByRole('link', { name: 'Admin' }).click();
  await root.page.getByRole('heading', { name: 'Cluster quotas' }).waitFor();
  await root.page.getByRole('progressbar', { name: 'Loading quotas' }).waitFor({ state: 'detached' });
  await audit(root.page, 'admin');
  await root.context.close();
});

await browser.close();

const serious = report.axe.flatMap((a) => a.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => ({ page: a.page, ...v })));
report.seriousViolations = serious;
const failed = report.scenarios.filter((s) => !s.ok);
if (process.env.REPORT) fs.writeFileSync(process.env.REPORT, JSON.stringify(report, null, 2));
console.log(JSON.stringify({ scenarios: report.scenarios.length, failed: failed.length, seriousViolations: serious.length }));
process.exit(failed.length || serious.length ? 1 : 0);
