// Opens the mesh dashboard in Debian's chromium (headless, driven by playwright-core; no downloaded browser), waits
// until it shows what is asked: the services, edges with traffic (then also tapped requests and golden metrics),
// running resources (then also one's console output), instances with their health and why they are unhealthy; and
// saves full-page screenshots. Exit code 0 when everything showed, 1 otherwise (with the reason and a screenshot).
//
//   node check.js --url http://localhost:8761/dashboard/ --out TestResults --node frontend --edge "gateway -> frontend" \
//                 --resource frontend-1 [--console controlplane] [--instance "catalog-1=unhealthy:answers 503"] \
//                 [--chromium /usr/bin/chromium] [--timeout 120]
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

function parseArgs(argv) {
  const args = { nodes: [], edges: [], resources: [], instances: [], console: null, chromium: '/usr/bin/chromium', timeout: 120, out: '.' };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--url': args.url = value; i++; break;
      case '--out': args.out = value; i++; break;
      case '--node': args.nodes.push(value); i++; break;
      case '--edge': args.edges.push(value); i++; break;
      case '--resource': args.resources.push(value); i++; break;
      case '--instance': args.instances.push(parseInstance(value)); i++; break;
      case '--console': args.console = value; i++; break;
      case '--chromium': args.chromium = value; i++; break;
      case '--timeout': args.timeout = Number(value); i++; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!args.url) throw new Error('--url is required');
  const host = new URL(args.url).hostname;
  if (!['localhost', '127.0.0.1', '[::1]'].includes(host)) throw new Error(`refusing to open ${args.url}: the dashboard test stays on loopback`);
  return args;
}

// "id=health" or "id=health:text the health cell shows besides" (why an instance is unhealthy).
function parseInstance(value) {
  const match = /^([^=]+)=([a-z]+)(?::(.+))?$/.exec(value || '');
  if (!match) throw new Error(`--instance ${value}: expected id=health or id=health:reason`);
  return { id: match[1], health: match[2], reason: match[3] || null };
}

function log(message) {
  console.log(`[dashboard-check] ${message}`);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  fs.mkdirSync(args.out, { recursive: true });
  const launchArgs = ['--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions'];
  // Chromium's sandbox cannot start as root (CI containers).
  if (typeof process.getuid === 'function' && process.getuid() === 0) launchArgs.push('--no-sandbox');
  const browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: launchArgs, timeout: 60_000 });
  log(`chromium ${browser.version()} started`);
  const pageErrors = [];
  const shots = [];
  const page = await browser.newPage({ viewport: { width: 1500, height: 1000 } });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => { if (message.type() === 'error') log(`page console error: ${message.text()}`); });
  const shoot = async (name, options, locator) => {
    const file = path.resolve(args.out, name);
    await (locator || page).screenshot(Object.assign({ path: file }, options));
    shots.push(file);
    log(`screenshot ${file}`);
  };

  const deadline = args.timeout * 1000;
  let step = 'open the dashboard';
  try {
    const response = await page.goto(args.url, { waitUntil: 'load', timeout: 30_000 });
    if (!response || !response.ok()) throw new Error(`${args.url} answered ${response && response.status()}`);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 30_000 });

    step = `the topology to show the services ${args.nodes.join(', ')}`;
    for (const node of args.nodes) {
      await page.waitForSelector(`#topology-view g.node[data-node="${node}"]`, { timeout: deadline });
    }

    step = `the instances ${args.instances.map((i) => i.id).join(', ')} with their health`;
    for (const expected of args.instances) {
      await page.waitForFunction((e) => {
        const row = document.querySelector(`#instance-table tr[data-instance="${e.id}"][data-health="${e.health}"]`);
        return row !== null && (e.reason === null || row.cells[3].textContent.includes(e.reason));
      }, expected, { timeout: deadline, polling: 500 });
    }
    const instances = await page.$$eval('#instance-table tr[data-instance]', (rows) => rows.map((r) =>
      `${r.cells[1].innerText.replace(/\s+/g, ' ').trim()}: ${r.cells[3].innerText.replace(/\s+/g, ' ').trim()}`));
    for (const instance of instances) log(`instance ${instance}`);

    step = `the topology to show traffic on ${args.edges.join(', ')}`;
    await page.waitForFunction((edges) => edges.every((name) => {
      const edge = [...document.querySelectorAll('#topology-view g.edge')].find((g) => g.getAttribute('data-edge') === name);
      return edge && Number(edge.getAttribute('data-rps')) > 0;
    }), args.edges, { timeout: deadline, polling: 500 });
    const edges = await page.$$eval('#topology-view g.edge', (gs) => gs.map((g) => ({ edge: g.getAttribute('data-edge'), rps: g.getAttribute('data-rps'), label: g.querySelector('title').textContent })));
    for (const edge of edges) log(`edge ${edge.label}`);

    let tapped = 0;
    if (args.edges.length > 0) {
      step = 'the tap to show requests';
      await page.waitForSelector('#tap-rows tr[data-status]', { timeout: deadline });
      tapped = await page.$$eval('#tap-rows tr[data-status]', (rows) => rows.length);
      log(`tap shows ${tapped} request(s)`);
    }

    step = `the resources ${args.resources.join(', ')} to be Running`;
    for (const resource of args.resources) {
      await page.waitForSelector(`#resource-table tr[data-resource="${resource}"][data-state="Running"]`, { timeout: deadline });
    }
    const resources = await page.$$eval('#resource-table tr[data-resource]', (rows) => rows.map((r) => `${r.getAttribute('data-resource')}=${r.getAttribute('data-state')}`));
    log(`resources: ${resources.join(' ')}`);

    const consoleOf = args.console || args.resources[0];
    if (consoleOf) {
      step = `the console output of ${consoleOf}`;
      await page.click(`#resource-table tr[data-resource="${consoleOf}"]`);
      await page.waitForFunction((name) => {
        const output = document.getElementById('console-output');
        return output.getAttribute('data-resource') === name && Number(output.getAttribute('data-lines')) > 0;
      }, consoleOf, { timeout: deadline, polling: 500 });
    }

    if (args.edges.length > 0) {
      step = 'the golden metrics to list the services';
      await page.waitForSelector('#service-metrics tr[data-service]', { timeout: deadline });
    }

    if (pageErrors.length) throw new Error(`the page threw: ${pageErrors.join(' | ')}`);
    await shoot('dashboard-full.png', { fullPage: true });
    await shoot('dashboard-topology.png', {}, page.locator('#topology'));
    console.log(JSON.stringify({ ok: true, edges, tapped, resources, instances, screenshots: shots }));
  } catch (error) {
    log(`FAILED waiting for ${step}: ${error.message}`);
    if (pageErrors.length) log(`page errors: ${pageErrors.join(' | ')}`);
    await shoot('dashboard-failure.png', { fullPage: true }).catch((e) => log(`no screenshot: ${e.message}`));
    process.exitCode = 1;
  } finally {
    await browser.close();
  }
}

main().catch((error) => {
  console.error(`[dashboard-check] ${error.stack || error.message}`);
  process.exitCode = 1;
});
