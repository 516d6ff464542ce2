// Opens a page in Debian's chromium (headless, driven by playwright-core; no downloaded browser) and makes one
// cross-origin fetch from it, as a single-page app would: the browser itself sends the preflight and enforces the
// answer. Prints one line, "fetch: ok <status> exposed=<value of --expose>" or "fetch: failed <error>", and exits 0
// either way (1 only when the check itself could not run).
//
//   node fetch.js --page http://127.0.0.1:5000/ --url http://127.0.0.1:8080/spa/x --method PUT \
//                 --header "x-trace: 1" --credentials include --expose x-backend [--chromium /usr/bin/chromium]
'use strict';

const { chromium } = require('playwright-core');

function parseArgs(argv) {
  const args = { method: 'GET', headers: {}, credentials: 'omit', expose: null, chromium: '/usr/bin/chromium' };
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    switch (argv[i]) {
      case '--page': args.page = value; i++; break;
      case '--url': args.url = value; i++; break;
      case '--method': args.method = value; i++; break;
      case '--header': {
        const colon = value.indexOf(':');
        args.headers[value.slice(0, colon).trim()] = value.slice(colon + 1).trim();
        i++;
        break;
      }
      case '--credentials': args.credentials = value; i++; break;
      case '--expose': args.expose = value; i++; break;
      case '--chromium': args.chromium = value; i++; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  for (const url of [args.page, args.url]) {
    if (!url || !['127.0.0.1', 'localhost'].includes(new URL(url).hostname)) throw new Error(`refusing ${url}: the test stays on loopback`);
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const launchArgs = ['--headless=new', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions'];
  // Chromium's sandbox cannot start as root (CI containers).
  if (typeof process.getuid === 'function' && process.getuid() === 0) launchArgs.push('--no-sandbox');
  const browser = await chromium.launch({ executablePath: args.chromium, headless: true, args: launchArgs, timeout: 60_000 });
  try {
    const page = await browser.newPage();
    await page.goto(args.page, { timeout: 30_000 });
    const result = await page.evaluate(async ({ url, method, headers, credentials, expose }) => {
      try {
        const response = await fetch(url, { method, headers, credentials, mode: 'cors' });
        await response.text();
        return `ok ${response.status} exposed=${expose ? response.headers.get(expose) : ''}`;
      } catch (error) {
        return `failed ${error}`;
      }
    }, { url: args.url, method: args.method, headers: args.headers, credentials: args.credentials, expose: args.expose });
    console.log(`fetch: ${result}`);
  } finally {
    await browser.close();
  }
}

main().catch(error => {
  console.error(`[cors-fetch] ${error.stack || error}`);
  process.exit(1);
});
