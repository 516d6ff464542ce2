// A Node app that joins the mesh the Consul way, with the real node-consul client and no mesh code: it serves HTTP on
// <port>, registers service <name> (id <id>) with a TTL check at the control plane's Consul API (<base-url>, ending in
// /v1), passes the check every second, finds <look-for>'s instances, and watches its own passing instances with
// blocking queries. Deregisters on SIGTERM. With <token>, sends it as its ACL token (X-Consul-Token), as it would to a
// Consul with ACLs. With <check> 'http', registers an HTTP check of its /health instead (Spring Cloud Consul's default),
// which the agent (here the control plane) runs, and passes nothing itself. Prints one line per step:
//   serving <port> | registered | discovered {json} | watching | changed {json} | deregistered
'use strict';
const http = require('http');
const Consul = require('consul');

const [baseUrl, name, port, id, lookFor, token, check] = process.argv.slice(2);
const consul = new Consul(token ? { baseUrl, defaults: { token } } : { baseUrl });

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`${name}-js ${req.method} ${req.url.split('?')[0]}`);
});

async function main() {
  await new Promise((resolve) => server.listen(Number(port), '127.0.0.1', resolve));
  console.log(`serving ${port}`);
  const probed = check === 'http';
  await consul.agent.service.register({
    name, id, address: '127.0.0.1', port: Number(port), tags: ['js', 'v1'], meta: { lang: 'node' },
    check: probed
      ? { http: `http://127.0.0.1:${port}/health`, interval: '1s', timeout: '2s', deregistercriticalserviceafter: '1m' }
      : { ttl: '5s', deregistercriticalserviceafter: '1m' },
  });
  const pass = () => consul.agent.check.pass({ id: `service:${id}`, note: 'alive' });
  let passing;
  if (!probed) {
    await pass();
    passing = setInterval(() => pass().catch((e) => console.error(`pass failed: ${e.message}`)), 1000);
  }
  console.log('registered');

  // What a discovery client asks: the passing instances of a service, the catalog, the leader.
  for (;;) {
    const self = await consul.health.service({ service: name, passing: true });
    const other = await consul.health.service({ service: lookFor, passing: true });
    if (self.some((e) => e.Service.ID === id) && other.length > 0) {
      const services = await consul.catalog.service.list();
      const leader = await consul.status.leader();
      console.log(`discovered ${JSON.stringify({
        self: self.map((e) => ({ id: e.Service.ID, tags: e.Service.Tags, meta: e.Service.Meta, checks: e.Checks.map((c) => [c.CheckID, c.Status, c.Output]) })),
        other: other.map((e) => ({ id: e.Service.ID, address: e.Service.Address, port: e.Service.Port, meta: e.Service.Meta })),
        services, leader })}`);
      break;
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  // A blocking-query watch, as Spring Cloud Consul and node-consul watches run: it reports each change of the index.
  const watch = consul.watch({ method: consul.health.service, options: { service: name, passing: true, wait: '30s' } });
  let first = true;
  watch.on('change', (data) => {
    if (first) {
      first = false;
      console.log('watching');
      return;
    }
    console.log(`changed ${JSON.stringify(data.map((e) => e.Service.ID))}`);
  });
  watch.on('error', (e) => console.error(`watch error: ${e.message}`));

  process.on('SIGTERM', async () => {
    if (passing) {
      clearInterval(passing);
    }
    watch.end();
    try {
      await consul.agent.service.deregister(id);
      console.log('deregistered');
      server.close();
      process.exit(0);
    } catch (e) {
      console.log(`deregistration failed: ${e.message}`);
      process.exit(1);
    }
  });
}

main().catch((e) => {
  console.error(`failed: ${e.message}`);
  process.exit(1);
});
