// AspireMesh dashboard: polls the control plane's JSON API every two seconds and streams /v1/tap.
// Plain browser JavaScript, no build step, no dependencies; every value from the API is set as text, never as markup.
'use strict';

(() => {
  const POLL_MS = 2000;
  const WINDOW = '10s';
  const HISTORY_POINTS = 60;
  const TAP_ROWS = 200;
  const SVG = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);
  const state = {
    config: null,            // the active config (JSON), for declared edges
    configVersion: null,
    gateways: [],            // gateway names (proxies of kind gateway, and routes' gateway parents)
    history: new Map(),      // route/edge name -> [{rps, p99}] collected by this page
    selectedResource: null,
    tapPaused: false,
    tapSkipped: 0,
    tapSource: null,
    planTouched: false,
  };

  // ---- small helpers -------------------------------------------------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (key === 'class') node.className = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null) node.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child !== undefined && child !== null) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fill(tbody, rows, emptyText, columns) {
    tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: columns, class: 'empty' }, emptyText))]));
  }

  const num = (v, digits = 1) => (v === null || v === undefined || Number.isNaN(v) ? '—' : Number(v).toFixed(digits));
  const pct = (v) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(v >= 0.9995 || v === 0 ? 0 : 1)}%`);
  const ms = (v) => (v === null || v === undefined ? '—' : v < 10 ? `${v.toFixed(1)} ms` : `${Math.round(v)} ms`);
  const time = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '—');

  function ago(iso) {
    if (!iso) return '—';
    const seconds = Math.max(0, (Date.now() - new Date(iso).getTime()) / 1000);
    return seconds < 60 ? `${seconds.toFixed(0)} s ago` : seconds < 3600 ? `${(seconds / 60).toFixed(0)} min ago` : new Date(iso).toLocaleString();
  }

  // Certificate expiry: proxies report certificateNotAfter (ISO date) once they hold a workload certificate.
  function expiry(iso) {
    if (!iso) return { text: '—', cls: '' };
    const at = new Date(iso);
    if (Number.isNaN(at.getTime())) return { text: '—', cls: '' };
    const left = (at.getTime() - Date.now()) / 1000;
    const span = Math.abs(left) < 3600 ? `${Math.round(Math.abs(left) / 60)} min` : Math.abs(left) < 172800 ? `${Math.round(Math.abs(left) / 3600)} h` : `${Math.round(Math.abs(left) / 86400)} d`;
    return { text: `${at.toLocaleString()} (${left < 0 ? `expired ${span} ago` : `in ${span}`})`, cls: left < 0 ? 'bad' : left < 3600 ? 'warn' : 'ok' };
  }

  async function getJson(path, init) {
    const response = await fetch(path, Object.assign({ cache: 'no-store' }, init));
    if (!response.ok) throw new Error(`${path}: ${response.status}`);
    return response.json();
  }

  function sparkline(values, cls) {
    const width = 120, height = 24;
    const points = values.filter((v) => v !== null && v !== undefined);
    const chart = svg('svg', { class: `spark ${cls || ''}`, width, height, viewBox: `0 0 ${width} ${height}`, 'data-points': points.length });
    if (points.length < 2) return chart;
    const max = Math.max(...points, 1e-9);
    const step = width / (values.length - 1);
    const coords = [];
    values.forEach((v, i) => {
      if (v !== null && v !== undefined) coords.push(`${(i * step).toFixed(1)},${(height - 2 - (v / max) * (height - 4)).toFixed(1)}`);
    });
    chart.append(svg('polyline', { points: coords.join(' ') }), svg('title', {}, `max ${num(max)}`));
    return chart;
  }

  function remember(key, metrics) {
    const series = state.history.get(key) || [];
    series.push({ rps: metrics ? metrics.requestsPerSecond : 0, p99: metrics ? metrics.p99Ms : null });
    if (series.length > HISTORY_POINTS) series.shift();
    state.history.set(key, series);
    return series;
  }

  // ---- topology ------------------------------------------------------------------------------------------------

  function declaredEdges(config) {
    const edges = [];
    if (!config) return edges;
    for (const service of config.services || []) {
      for (const target of service.references || []) edges.push([service.name, target]);
    }
    for (const route of config.routes || []) {
      for (const parent of route.parentRefs || []) {
        if ((parent.kind || 'Gateway') !== 'Gateway') continue;
        for (const rule of route.rules || []) {
          for (const backend of rule.backendRefs || []) edges.push([parent.name, backend.name]);
        }
      }
    }
    return edges;
  }

  // Ingress traffic is measured as coming from "external"; draw it from the gateway that routes to the destination.
  function ingressSource(destination) {
    const declared = declaredEdges(state.config).filter(([from, to]) => to === destination && state.gateways.includes(from)).map(([from]) => from);
    const candidates = [...new Set(declared)];
    if (candidates.length === 1) return candidates[0];
    if (state.gateways.length === 1) return state.gateways[0];
    return 'external';
  }

  function layout(nodes, edges) {
    // Layered, deterministic: gateways in column 0, every other node one column right of its furthest caller.
    const layer = new Map();
    for (const node of nodes.values()) layer.set(node.name, node.kind === 'gateway' ? 0 : 1);
    for (let pass = 0; pass < nodes.size; pass++) {
      let changed = false;
      for (const edge of edges) {
        if (edge.from === edge.to) continue;
        const wanted = Math.min(layer.get(edge.from) + 1, nodes.size);
        if (layer.get(edge.to) < wanted) { layer.set(edge.to, wanted); changed = true; }
      }
      if (!changed) break;
    }
    const columns = new Map();
    for (const node of [...nodes.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const column = layer.get(node.name);
      if (!columns.has(column)) columns.set(column, []);
      columns.get(column).push(node);
    }
    const used = [...columns.keys()].sort((a, b) => a - b);
    used.forEach((column, x) => columns.get(column).forEach((node, y) => { node.x = 30 + x * 340; node.y = 30 + y * 100; }));
    return { width: 30 + used.length * 340, height: 40 + Math.max(1, ...[...columns.values()].map((c) => c.length)) * 100 };
  }

  function renderTopology(stats, services) {
    const nodes = new Map();
    const add = (name, kind) => { if (!nodes.has(name)) nodes.set(name, { name, kind }); return nodes.get(name); };
    for (const gateway of state.gateways) add(gateway, 'gateway');
    for (const service of services.services) add(service.name, 'service');
    for (const service of (state.config && state.config.services) || []) add(service.name, 'service');

    const edges = new Map();
    for (const [from, to] of declaredEdges(state.config)) {
      add(from, state.gateways.includes(from) ? 'gateway' : 'service');
      add(to, 'service');
      edges.set(`${from} -> ${to}`, { from, to, metrics: null });
    }
    for (const metrics of stats.edges) {
      const from = metrics.source === 'external' ? ingressSource(metrics.destination) : metrics.source;
      add(from, from === 'external' || state.gateways.includes(from) ? 'gateway' : 'service');
      add(metrics.destination, 'service');
      const key = `${from} -> ${metrics.destination}`;
      const existing = edges.get(key);
      // Several gateways' ingress may fold into one edge; add them up.
      if (existing && existing.metrics) {
        existing.metrics = Object.assign({}, existing.metrics, { requestsPerSecond: existing.metrics.requestsPerSecond + metrics.requestsPerSecond });
      } else {
        edges.set(key, { from, to: metrics.destination, metrics, apiName: metrics.name });
      }
    }

    const view = $('topology-view');
    if (nodes.size === 0) {
      view.replaceChildren(el('p', { class: 'empty' }, 'No services yet.'));
      return;
    }

    const edgeList = [...edges.entries()].map(([key, edge]) => Object.assign(edge, { key }));
    const size = layout(nodes, edgeList);
    const byService = new Map(stats.services.map((s) => [s.name, s]));
    const healthByService = new Map(services.services.map((s) => [s.name, s.instances]));
    const W = 170, H = 56;

    const chart = svg('svg', { width: size.width, height: size.height, viewBox: `0 0 ${size.width} ${size.height}`, role: 'img', 'aria-label': 'Service topology' },
      svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
        svg('path', { d: 'M 0 0 L 10 5 L 0 10 z' }))));

    for (const edge of edgeList.sort((a, b) => a.key.localeCompare(b.key))) {
      const a = nodes.get(edge.from), b = nodes.get(edge.to);
      const m = edge.metrics;
      const live = !!m && m.requests > 0;
      let d, lx, ly;
      if (a === b) {
        d = `M ${a.x + W - 30} ${a.y} C ${a.x + W} ${a.y - 40}, ${a.x + W + 40} ${a.y}, ${a.x + W} ${a.y + 20}`;
        lx = a.x + W + 10; ly = a.y - 22;
      } else {
        const forward = b.x > a.x;
        const x1 = forward ? a.x + W : a.x + W / 2, y1 = forward ? a.y + H / 2 : a.y + H;
        const x2 = forward ? b.x : b.x + W / 2, y2 = forward ? b.y + H / 2 : b.y;
        const bend = forward ? Math.max(40, (x2 - x1) / 2) : 40;
        d = forward ? `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}` : `M ${x1} ${y1} C ${x1 + 60} ${y1 + bend}, ${x2 + 60} ${y2 - bend}, ${x2} ${y2}`;
        lx = (x1 + x2) / 2; ly = (y1 + y2) / 2 - 6;
      }
      const label = live ? `${num(m.requestsPerSecond)} rps · ${pct(m.successRate)} · p99 ${ms(m.p99Ms)}` : 'no traffic';
      // Two short lines above the middle of the edge, so the label fits between the columns.
      const text = live
        ? svg('text', { x: lx, y: ly - 12, 'text-anchor': 'middle' }, svg('tspan', { x: lx, dy: 0 }, `${num(m.requestsPerSecond)} rps`),
          svg('tspan', { x: lx, dy: 13 }, `${pct(m.successRate)} · p99 ${ms(m.p99Ms)}`))
        : svg('text', { x: lx, y: ly, 'text-anchor': 'middle' }, label);
      chart.append(svg('g', {
        class: 'edge', 'data-edge': edge.key, 'data-api-edge': edge.apiName || null, 'data-live': live,
        'data-rps': live ? m.requestsPerSecond.toFixed(3) : 0, 'data-success-rate': live && m.successRate !== null ? m.successRate.toFixed(4) : null,
        'data-p99-ms': live && m.p99Ms !== null ? m.p99Ms.toFixed(2) : null, 'data-failing': live && m.successRate !== null && m.successRate < 0.95,
      }, svg('path', { d, 'marker-end': 'url(#arrow)' }), text, svg('title', {}, `${edge.key}: ${label}`)));
    }

    for (const node of [...nodes.values()].sort((x, y) => x.name.localeCompare(y.name))) {
      const metrics = byService.get(node.name);
      const instances = healthByService.get(node.name) || [];
      const healthy = instances.filter((i) => i.health === 'healthy').length;
      const detail = node.kind === 'gateway'
        ? (node.name === 'external' ? 'ingress (all gateways)' : 'gateway')
        : `${healthy}/${instances.length} healthy${metrics ? ` · ${num(metrics.requestsPerSecond)} rps` : ''}`;
      chart.append(svg('g', {
        class: 'node', 'data-node': node.name, 'data-kind': node.kind, transform: `translate(${node.x},${node.y})`,
        'data-unhealthy': node.kind === 'service' && instances.length > 0 && healthy < instances.length,
      }, svg('rect', { width: W, height: H, rx: 8 }), svg('text', { class: 'name', x: 12, y: 22 }, node.name), svg('text', { class: 'detail', x: 12, y: 42 }, detail)));
    }
    view.replaceChildren(chart);
  }

  // ---- golden metrics ------------------------------------------------------------------------------------------

  function metricCells(m) {
    return [
      el('td', { class: 'num' }, num(m && m.requestsPerSecond)),
      el('td', { class: `num ${m && m.successRate !== null && m.successRate < 0.95 ? 'bad' : ''}` }, pct(m && m.successRate)),
      el('td', { class: 'num' }, ms(m && m.p50Ms)),
      el('td', { class: 'num' }, ms(m && m.p95Ms)),
      el('td', { class: 'num' }, ms(m && m.p99Ms)),
    ];
  }

  function renderMetrics(stats) {
    $('window-label').textContent = stats.windowSeconds ? stats.windowSeconds.toFixed(0) : '10';
    const history = new Map();
    for (const point of stats.history) {
      if (!history.has(point.service)) history.set(point.service, []);
      history.get(point.service).push(point);
    }
    fill($('service-metrics').tBodies[0], stats.services.map((m) => {
      const points = history.get(m.name) || [];
      return el('tr', { 'data-service': m.name }, el('td', {}, m.name), ...metricCells(m), el('td', { class: 'num' }, num(m.retries, 2)),
        el('td', {}, sparkline(points.map((p) => p.requestsPerSecond))), el('td', {}, sparkline(points.map((p) => p.p99Ms), 'p99')));
    }), 'No requests in the window.', 9);

    const seenRoutes = new Set();
    fill($('route-metrics').tBodies[0], stats.routes.map((m) => {
      const key = `route:${m.name}|${m.source}|${m.destination}`;
      seenRoutes.add(key);
      const series = remember(key, m);
      return el('tr', { 'data-route': m.name }, el('td', {}, m.name), el('td', {}, `${m.source} → ${m.destination}`), ...metricCells(m),
        el('td', {}, sparkline(series.map((p) => p.rps))), el('td', {}, sparkline(series.map((p) => p.p99), 'p99')));
    }), 'No routed requests in the window.', 9);

    fill($('edge-metrics').tBodies[0], stats.edges.map((m) => {
      const series = remember(`edge:${m.name}`, m);
      return el('tr', { 'data-edge': m.name }, el('td', {}, m.name), ...metricCells(m), el('td', { class: 'num' }, num(m.retries, 2)),
        el('td', {}, sparkline(series.map((p) => p.rps))));
    }), 'No calls between services in the window.', 8);
    // Routes that went quiet still chart a zero, so a drop to nothing is visible rather than a frozen line.
    for (const key of state.history.keys()) {
      if (key.startsWith('route:') && !seenRoutes.has(key)) remember(key, null);
    }
  }

  // ---- instances, proxies ----------------------------------------------------------------------------------------

  // Instances registered by a Eureka or Consul client (no sidecar) say so beside their id.
  const REGISTRARS = { eureka: 'Eureka', consul: 'Consul' };

  function renderInstances(services) {
    const rows = [];
    for (const service of services.services) {
      if (service.instances.length === 0) {
        rows.push(el('tr', { 'data-service': service.name }, el('td', {}, service.name), el('td', { colspan: 4, class: 'bad' }, 'no instances')));
      }
      for (const instance of service.instances) {
        // An unhealthy instance says why (its sidecar's word: the app's failed health check, no configuration yet).
        rows.push(el('tr', { 'data-instance': instance.id, 'data-health': instance.health },
          el('td', {}, service.name),
          el('td', {}, instance.id, instance.registeredBy && instance.registeredBy !== 'api'
            ? el('span', { class: 'via' }, ` via ${REGISTRARS[instance.registeredBy] || instance.registeredBy}`) : null),
          el('td', {}, instance.address + (instance.http2Address ? ` (h2c ${instance.http2Address})` : '')),
          el('td', { class: `${instance.health} wrap` }, instance.health,
            instance.reason ? el('div', { class: 'reason' }, instance.reason) : null),
          el('td', {}, ago(instance.lastHeartbeat))));
      }
    }
    fill($('instance-table').tBodies[0], rows, 'No services registered.', 5);
  }

  function renderProxies(list) {
    $('mesh-version').textContent = list.currentVersion;
    $('proxies-config-version').textContent = list.configVersion;
    fill($('proxy-table').tBodies[0], list.proxies.map((p) => {
      const cert = expiry(p.certificateNotAfter);
      return el('tr', { 'data-proxy': p.id, 'data-kind': p.kind, 'data-up-to-date': p.upToDate },
        el('td', {}, p.id), el('td', {}, p.kind), el('td', {}, p.name),
        el('td', { class: 'num' }, p.appliedVersion),
        el('td', { class: p.upToDate ? 'ok' : 'warn' }, p.upToDate ? 'yes' : `no (current ${list.currentVersion})`),
        el('td', { class: p.watching ? 'ok' : 'bad' }, p.watching ? 'yes' : 'no'),
        el('td', { class: cert.cls, 'data-cert-expiry': p.certificateNotAfter || '' }, cert.text),
        el('td', {}, ago(p.lastSeen)),
        el('td', { class: `wrap ${p.lastRefusal ? 'bad' : ''}` }, p.lastRefusal ? `version ${p.refusedVersion}: ${p.lastRefusal}` : '—'));
    }), 'No proxy has connected.', 9);
  }

  // ---- config ------------------------------------------------------------------------------------------------------

  async function refreshConfig(versions) {
    const current = versions.versions.find((v) => v.current);
    const version = current ? current.version : 0;
    fill($('config-versions').tBodies[0], versions.versions.map((v) => el('tr', { 'data-version': v.version, class: v.current ? 'current' : '' },
      el('td', {}, v.current ? `${v.version} (active)` : v.version), el('td', {}, new Date(v.acceptedAt).toLocaleString()), el('td', { class: 'wrap' }, v.source),
      el('td', { class: 'num' }, v.services), el('td', { class: 'num' }, v.routes), el('td', { class: 'num' }, v.policies))), 'No config yet.', 6);
    if (version === state.configVersion) return;
    const [json, yaml] = await Promise.all([
      getJson('/v1/config'),
      fetch('/v1/config', { headers: { Accept: 'application/yaml' }, cache: 'no-store' }).then((r) => r.text()),
    ]);
    state.config = json;
    state.configVersion = version;
    $('config-version').textContent = version;
    $('config-yaml').textContent = yaml;
    if (!state.planTouched) $('plan-input').value = yaml;
  }

  function showPlan(outcome, ...content) {
    const result = $('plan-result');
    result.setAttribute('data-outcome', outcome);
    result.replaceChildren(...content);
  }

  async function plan(event) {
    event.preventDefault();
    const token = $('plan-token').value.trim();
    if (token) sessionStorage.setItem('aspiremesh-admin-token', token);
    const text = $('plan-input').value;
    showPlan('pending', el('p', {}, 'Validating…'));
    let response;
    try {
      response = await fetch('/v1/config/plan', {
        method: 'POST',
        headers: Object.assign({ 'Content-Type': text.trimStart().startsWith('{') ? 'application/json' : 'application/yaml' }, token ? { Authorization: `Bearer ${token}` } : {}),
        body: text,
      });
    } catch (error) {
      showPlan('error', el('p', {}, `The control plane did not answer: ${error.message}`));
      return;
    }
    const body = await response.json().catch(() => null);
    if (response.ok && body) {
      const changes = body.proxies.filter((p) => p.routes.added.length + p.routes.removed.length + p.routes.changed.length
        + p.backends.added.length + p.backends.removed.length + p.backends.changed.length
        + p.policies.added.length + p.policies.removed.length + p.policies.changed.length > 0);
      const describe = (set, what) => ['added', 'removed', 'changed'].filter((k) => set[k].length).map((k) => `${what} ${k}: ${set[k].join(', ')}`);
      showPlan('valid', el('p', { class: 'ok' }, `Valid. Compared with version ${body.baseVersion}: ${changes.length ? `${changes.length} proxy group(s) would change` : 'no proxy would change'}.`),
        el('ul', {}, ...changes.map((p) => el('li', { 'data-plan-proxy': `${p.kind}/${p.name}` }, `${p.kind} ${p.name} (${p.connectedProxies.length} connected): `,
          [...describe(p.routes, 'routes'), ...describe(p.backends, 'backends'), ...describe(p.policies, 'policies')].join('; ')))));
      return;
    }
    const errors = (body && body.errors) || [];
    showPlan('invalid', el('p', {}, `${response.status} ${(body && body.title) || response.statusText}${body && body.detail && !errors.length ? `: ${body.detail}` : ''}`),
      el('ul', {}, ...errors.map((e) => el('li', { 'data-error-path': e.path }, el('code', {}, e.path), ` ${e.message}`))));
  }

  // ---- resources -----------------------------------------------------------------------------------------------------

  function renderResources(list) {
    const rows = list.resources.map((r) => {
      const row = el('tr', { 'data-resource': r.name, 'data-kind': r.kind, 'data-state': r.state, 'aria-selected': r.name === state.selectedResource, tabindex: 0 },
        el('td', {}, r.name), el('td', {}, r.kind), el('td', { class: 'state' }, r.state), el('td', { class: `num ${r.restarts > 0 ? 'warn' : ''}` }, r.restarts),
        el('td', { class: 'num' }, r.pid ?? '—'), el('td', { class: 'num' }, r.exitCode ?? '—'), el('td', {}, time(r.startedAt)),
        el('td', { class: 'wrap' }, ...r.urls.flatMap((u, i) => [i ? ' ' : null, el('a', { href: u, rel: 'noreferrer' }, u)])));
      const select = () => { state.selectedResource = r.name; renderResources(list); refreshConsole(); };
      row.addEventListener('click', select);
      row.addEventListener('keydown', (e) => { if (e.key === 'Enter') select(); });
      return row;
    });
    fill($('resource-table').tBodies[0], rows, list.publishedAt ? 'The AppHost runs no resources.' : 'No AppHost has published its resources (run the mesh with dotnet run --project AppHost).', 8);
    if (!state.selectedResource && list.resources.length) {
      state.selectedResource = list.resources[0].name;
      rows[0].setAttribute('aria-selected', 'true');
    }
  }

  async function refreshConsole() {
    const name = state.selectedResource;
    $('console-resource').textContent = name || '–';
    const output = $('console-output');
    if (!name) { output.replaceChildren(); return; }
    try {
      const logs = await getJson(`/v1/resources/${encodeURIComponent(name)}/logs`);
      if (name !== state.selectedResource) return;
      const stick = output.scrollTop + output.clientHeight >= output.scrollHeight - 4;
      output.setAttribute('data-resource', name);
      output.setAttribute('data-lines', logs.lines.length);
      output.replaceChildren(...logs.lines.map((l) => el('span', { class: l.isError ? 'err' : null }, `${l.text}\n`)));
      if (stick) output.scrollTop = output.scrollHeight;
    } catch (error) {
      output.textContent = `No console output: ${error.message}`;
    }
  }

  // ---- tap -----------------------------------------------------------------------------------------------------------

  function tapQuery() {
    const query = new URLSearchParams();
    for (const [key, id] of [['service', 'tap-service'], ['method', 'tap-method'], ['path', 'tap-path'], ['status', 'tap-status']]) {
      const value = $(id).value.trim();
      if (value) query.set(key, key === 'method' ? value.toUpperCase() : value);
    }
    return query.toString();
  }

  function setTapState(text, kind) {
    const badge = $('tap-state');
    badge.textContent = text;
    badge.setAttribute('data-state', kind);
  }

  function startTap() {
    if (state.tapSource) state.tapSource.close();
    const query = tapQuery();
    const source = new EventSource(`/v1/tap${query ? `?${query}` : ''}`);
    state.tapSource = source;
    setTapState('connecting…', 'connecting');
    source.onopen = () => setTapState(state.tapPaused ? 'paused' : 'live', state.tapPaused ? 'paused' : 'live');
    source.onerror = () => setTapState('reconnecting…', 'error');
    source.onmessage = (message) => {
      if (state.tapPaused) {
        state.tapSkipped++;
        setTapState(`paused (${state.tapSkipped} not shown)`, 'paused');
        return;
      }
      let e;
      try { e = JSON.parse(message.data); } catch { return; }
      const rows = $('tap-rows');
      const statusClass = e.status >= 500 || e.meshError ? 'bad' : e.status >= 400 ? 'warn' : 'ok';
      rows.prepend(el('tr', { 'data-status': e.status, 'data-method': e.method, 'data-path': e.path, 'data-source': e.source, 'data-destination': e.destination, 'data-proxy': e.proxy },
        el('td', {}, time(e.at)), el('td', {}, e.proxy), el('td', {}, e.direction), el('td', {}, e.method), el('td', {}, e.authority),
        el('td', { class: 'wrap' }, e.path), el('td', { class: `num ${statusClass}` }, e.meshError ? `${e.status} ${e.meshError}` : e.status),
        el('td', { class: 'num' }, ms(e.latencyMs)), el('td', {}, `${e.source || '?'} → ${e.destination || '?'}`), el('td', {}, e.endpoint || '—'),
        el('td', {}, e.route || '—')));
      while (rows.rows.length > TAP_ROWS) rows.deleteRow(rows.rows.length - 1);
    };
  }

  // ---- polling ---------------------------------------------------------------------------------------------------------

  function setStatus(text, kind) {
    const badge = $('status');
    badge.textContent = text;
    badge.setAttribute('data-state', kind);
  }

  async function poll() {
    try {
      const [stats, services, proxies, resources, versions] = await Promise.all([
        getJson(`/v1/stats?window=${WINDOW}`), getJson('/v1/services'), getJson('/v1/proxies'), getJson('/v1/resources'), getJson('/v1/config/versions'),
      ]);
      await refreshConfig(versions);
      const fromConfig = declaredEdges(state.config).map(([from]) => from).filter((name) => !(state.config.services || []).some((s) => s.name === name));
      state.gateways = [...new Set([...proxies.proxies.filter((p) => p.kind === 'gateway').map((p) => p.name), ...fromConfig])].sort();
      renderTopology(stats, services);
      renderMetrics(stats);
      renderInstances(services);
      renderProxies(proxies);
      renderResources(resources);
      await refreshConsole();
      setStatus(`updated ${new Date().toLocaleTimeString()}`, 'live');
      document.body.setAttribute('data-loaded', 'true');
    } catch (error) {
      setStatus(`control plane unreachable: ${error.message}`, 'error');
    } finally {
      setTimeout(poll, POLL_MS);
    }
  }

  function init() {
    $('plan-token').value = sessionStorage.getItem('aspiremesh-admin-token') || '';
    $('plan-input').addEventListener('input', () => { state.planTouched = true; });
    $('plan-reset').addEventListener('click', () => { state.planTouched = false; $('plan-input').value = $('config-yaml').textContent; showPlan('none'); });
    $('plan-form').addEventListener('submit', plan);
    $('tap-filters').addEventListener('submit', (e) => { e.preventDefault(); startTap(); });
    $('tap-pause').addEventListener('click', () => {
      state.tapPaused = !state.tapPaused;
      state.tapSkipped = 0;
      $('tap-pause').textContent = state.tapPaused ? 'Resume' : 'Pause';
      $('tap-pause').setAttribute('aria-pressed', state.tapPaused);
      setTapState(state.tapPaused ? 'paused' : 'live', state.tapPaused ? 'paused' : 'live');
    });
    $('tap-clear').addEventListener('click', () => $('tap-rows').replaceChildren());
    startTap();
    poll();
  }

  init();
})();
