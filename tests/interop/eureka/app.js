// A Node app that joins the mesh the Eureka way, with the real eureka-js-client and no mesh code: it serves HTTP on
// <port>, registers as app <app> with the control plane's Eureka API at <eureka-url>, heartbeats, fetches the
// registry (whole, or whole once and then deltas when <fetch> is "delta"), and deregisters on SIGTERM. Prints one line
// per step, and the instances of <look-for> it knows each time they change. With <token>, it authenticates as Spring's
// and Netflix's clients do, with the credentials in the service URL (http://user:<token>@host/eureka/):
//   serving <port> | registered | discovered {json} | heartbeat | known#<n> <look-for> [ids] | deregistered
'use strict';
const http = require('http');
const { Eureka } = require('eureka-js-client');

const [eurekaUrl, app, port, instanceId, lookFor, portStyle, fetch, token] = process.argv.slice(2);
const url = new URL(eurekaUrl);

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'text/plain');
  res.end(`${app}-js ${req.method} ${req.url.split('?')[0]}`);
});

server.listen(Number(port), '127.0.0.1', () => {
  console.log(`serving ${port}`);
  const client = new Eureka({
    instance: {
      app,
      instanceId,
      hostName: '127.0.0.1',
      ipAddr: '127.0.0.1',
      // The README's simple form is a bare number; Netflix's codec writes an object.
      port: portStyle === 'bare' ? Number(port) : { $: Number(port), '@enabled': true },
      vipAddress: app,
      statusPageUrl: `http://127.0.0.1:${port}/info`,
      dataCenterInfo: { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' },
      leaseInfo: { renewalIntervalInSecs: 1, durationInSecs: 10 },
    },
    shouldUseDelta: fetch === 'delta',
    eureka: {
      ...(token
        ? { serviceUrls: { default: [`http://${app}:${encodeURIComponent(token)}@${url.host}${url.pathname}/apps/`] } }
        : { host: url.hostname, port: Number(url.port), servicePath: '/eureka/apps/' }),
      heartbeatInterval: 300,
      registryFetchInterval: 300,
      maxRetries: 1,
      requestRetryDelay: 200,
    },
    logger: { debug() {}, info() {}, warn: (...a) => console.error('warn', ...a), error: (...a) => console.error('error', ...a) },
  });

  client.on('registered', () => console.log('registered'));
  let discovered = false;
  let heartbeats = 0;
  client.on('heartbeat', () => {
    heartbeats++;
    if (discovered && heartbeats === 1) {
      console.log('heartbeat');
    }
  });
  client.on('registryUpdated', () => {
    if (discovered) {
      return;
    }
    const self = client.getInstancesByVipAddress(app).map(i => i.instanceId);
    const other = client.getInstancesByAppId(lookFor.toUpperCase()).map(i => ({
      instanceId: i.instanceId, status: i.status, port: i.port, securePort: i.securePort, vipAddress: i.vipAddress, metadata: i.metadata,
    }));
    if (self.includes(instanceId) && other.length > 0) {
      discovered = true;
      heartbeats = 0;
      console.log(`discovered ${JSON.stringify({ self, other })}`);
    }
  });
  // Deltas update the client's cache without an event: read it as an app would, on each use, by VIP address (the
  // client's by-app cache mishandles a deleted instance: it removes the app's first one).
  let known = '';
  let changes = 0;
  setInterval(() => {
    const ids = JSON.stringify(client.getInstancesByVipAddress(lookFor).map((i) => i.instanceId).sort());
    if (discovered && ids !== known) {
      known = ids;
      console.log(`known#${++changes} ${lookFor} ${ids}`);
    }
  }, 100);
  client.start((error) => {
    if (error) {
      console.error(`start failed: ${error.message}`);
      process.exit(1);
    }
  });

  process.on('SIGTERM', () => {
    client.stop((error) => {
      console.log(error ? `deregistration failed: ${error.message}` : 'deregistered');
      server.close();
      process.exit(error ? 1 : 0);
    });
  });
});
