import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register as globalRegistry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import type { IpamService } from '../../src/ipam/ipam-service.js';
import type { NetworkDriver } from '../../src/driver/network-driver.js';
import { badRequest } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import { PluginMetrics } from '../../src/metrics/plugin-metrics.js';
import { buildMetricsServer } from '../../src/metrics/metrics-server.js';
import { PluginSocket } from '../../src/protocol/plugin-socket.js';
import { apiRoutes } from '../../src/protocol/routes.js';
import { buildServer } from '../../src/protocol/server.js';
import { parseExposition, valueOf } from '../helpers/prometheus.js';

const scrape = async (m: PluginMetrics) => parseExposition(await m.exposition());

describe('plugin metrics', () => {
  it('counts and times API calls per call and outcome', async () => {
    const m = new PluginMetrics();
    m.apiCall('NetworkDriver.Join', 'ok', 0.004);
    m.apiCall('NetworkDriver.Join', 'ok', 0.3);
    m.apiCall('NetworkDriver.Join', 'error', 2);
    const s = await scrape(m);
    expect(valueOf(s, 'ts_overlay_api_requests_total', { call: 'NetworkDriver.Join', outcome: 'ok' })).toBe(2);
    expect(valueOf(s, 'ts_overlay_api_requests_total', { call: 'NetworkDriver.Join', outcome: 'error' })).toBe(1);
    expect(valueOf(s, 'ts_overlay_api_request_duration_seconds_count', { call: 'NetworkDriver.Join', outcome: 'ok' })).toBe(2);
    expect(valueOf(s, 'ts_overlay_api_request_duration_seconds_sum', { call: 'NetworkDriver.Join', outcome: 'ok' })).toBeCloseTo(0.304);
    expect(valueOf(s, 'ts_overlay_api_request_duration_seconds_bucket', { call: 'NetworkDriver.Join', outcome: 'ok', le: '0.005' })).toBe(1);
    expect(valueOf(s, 'ts_overlay_api_request_duration_seconds_bucket', { call: 'NetworkDriver.Join', outcome: 'ok', le: '0.5' })).toBe(2);
  });

  it('keeps a registry per instance, apart from prom-client\'s global one', async () => {
    const a = new PluginMetrics();
    const b = new PluginMetrics(); // a second one must not clash on metric names
    a.etcdError('write');
    expect(valueOf(await scrape(a), 'ts_overlay_etcd_errors_total', { op: 'write' })).toBe(1);
    expect(valueOf(await scrape(b), 'ts_overlay_etcd_errors_total', { op: 'write' })).toBe(0);
    expect(await globalRegistry.getSingleMetric('ts_overlay_etcd_errors_total')).toBeUndefined();
  });

  it('reads the host gauges when scraped, so they never lag behind', async () => {
    const m = new PluginMetrics();
    let endpoints = 1;
    m.observeHost(() => ({ endpoints, networks: 2, nodesAlive: 3 }));
    expect(valueOf(await scrape(m), 'ts_overlay_local_endpoints')).toBe(1);
    endpoints = 4;
    const s = await scrape(m);
    expect(valueOf(s, 'ts_overlay_local_endpoints')).toBe(4);
    expect(valueOf(s, 'ts_overlay_local_networks')).toBe(2);
    expect(valueOf(s, 'ts_overlay_nodes_alive')).toBe(3);
  });

  it('counts reconciles by outcome and what they repaired by kind, from zero', async () => {
    const m = new PluginMetrics();
    const before = await scrape(m);
    expect(valueOf(before, 'ts_overlay_drift_repaired_total', { kind: 'endpoint_released' })).toBe(0);
    expect(valueOf(before, 'ts_overlay_reconcile_runs_total', { outcome: 'error' })).toBe(0);
    m.reconciled('ok', { device_removed: 2, endpoint_released: 0 });
    m.reconciled('error', { endpoint_released: 1 });
    m.peerEntriesProgrammed(5);
    m.peerEntriesProgrammed(0);
    const s = await scrape(m);
    expect(valueOf(s, 'ts_overlay_reconcile_runs_total', { outcome: 'ok' })).toBe(1);
    expect(valueOf(s, 'ts_overlay_reconcile_runs_total', { outcome: 'error' })).toBe(1);
    expect(valueOf(s, 'ts_overlay_drift_repaired_total', { kind: 'device_removed' })).toBe(2);
    expect(valueOf(s, 'ts_overlay_drift_repaired_total', { kind: 'endpoint_released' })).toBe(1);
    expect(valueOf(s, 'ts_overlay_peer_entries_programmed_total')).toBe(5);
  });

  it('adds process metrics and the version only when asked', async () => {
    const plain = await scrape(new PluginMetrics());
    expect(plain.some((s) => s.name.startsWith('process_'))).toBe(false);
    const full = await scrape(new PluginMetrics({ processMetrics: true, version: '9.9.9' }));
    expect(valueOf(full, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(valueOf(full, 'ts_overlay_build_info', { version: '9.9.9' })).toBe(1);
  });
});

describe('API calls through the protocol server', () => {
  function appWith(metrics: PluginMetrics) {
    const driver = {
      join: async () => ({}),
      createEndpoint: async () => {
        throw badRequest('no such network');
      },
    } as unknown as NetworkDriver;
    const app = buildServer(apiRoutes({ driver, ipam: {} as IpamService, clusterNetwork: async () => undefined }), silentLogger, metrics);
    return (url: string, body: unknown) => app.inject({ method: 'POST', url, payload: JSON.stringify(body) });
  }

  it('labels each call, tells a 200 with Err from success, and lumps unknown paths together', async () => {
    const m = new PluginMetrics();
    const post = appWith(m);
    expect(valueOf(await scrape(m), 'ts_overlay_api_requests_total', { call: 'NetworkDriver.Leave', outcome: 'ok' })).toBe(0); // declared
    const join = await post('/NetworkDriver.Join', { NetworkID: 'a'.repeat(64), EndpointID: 'b'.repeat(64), SandboxKey: '/x' });
    expect(join.statusCode).toBe(200);
    const create = await post('/NetworkDriver.CreateEndpoint', { NetworkID: 'a'.repeat(64), EndpointID: 'b'.repeat(64), Interface: { Address: '10.0.0.2/24' } });
    expect(create.statusCode).toBe(200);
    expect(create.json()).toEqual({ Err: 'no such network' });
    await post('/Random.Thing', {});
    await post('/Other.Thing', {});
    const s = await scrape(m);
    expect(valueOf(s, 'ts_overlay_api_requests_total', { call: 'NetworkDriver.Join', outcome: 'ok' })).toBe(1);
    expect(valueOf(s, 'ts_overlay_api_requests_total', { call: 'NetworkDriver.CreateEndpoint', outcome: 'error' })).toBe(1);
    expect(valueOf(s, 'ts_overlay_api_requests_total', { call: 'NetworkDriver.CreateEndpoint', outcome: 'ok' })).toBe(0);
    expect(valueOf(s, 'ts_overlay_api_requests_total', { call: 'unknown', outcome: 'error' })).toBe(2);
    expect(s.some((x) => x.labels.call === 'Random.Thing')).toBe(false);
  });

  it('counts the connections opened to the socket, from before the API was built, not the calls made on them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tso-conns-'));
    const socket = await PluginSocket.open(join(dir, 'p.sock'));
    // One connection while the plugin is still starting (no API, no metrics yet): it counts too.
    const early = createConnection(socket.path);
    await new Promise((r) => early.once('connect', r));
    await new Promise((r) => setTimeout(r, 50));
    early.destroy();
    const m = new PluginMetrics();
    const app = buildServer(apiRoutes({ driver: { join: async () => ({}) } as unknown as NetworkDriver, ipam: {} as IpamService, clusterNetwork: async () => undefined }), silentLogger, m, Promise.resolve(), undefined, socket);
    const join1 = (agent: Agent) =>
      new Promise<number>((resolve, reject) => {
        const req = request({ socketPath: socket.path, path: '/NetworkDriver.Join', method: 'POST', agent }, (res) => res.resume().on('end', () => resolve(res.statusCode ?? 0)));
        req.on('error', reject);
        req.end(JSON.stringify({ NetworkID: 'a'.repeat(64), EndpointID: 'b'.repeat(64), SandboxKey: '/x' }));
      });
    const kept = new Agent({ keepAlive: true, maxSockets: 1 });
    const other = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await app.ready();
      expect(await Promise.all([join1(kept), join1(kept), join1(kept), join1(other)])).toEqual([200, 200, 200, 200]);
      const s = await scrape(m);
      expect(valueOf(s, 'ts_overlay_api_requests_total', { call: 'NetworkDriver.Join', outcome: 'ok' })).toBe(4);
      expect(valueOf(s, 'ts_overlay_api_connections_opened_total')).toBe(3);
    } finally {
      kept.destroy();
      other.destroy();
      await app.close();
      await socket.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('metrics HTTP server', () => {
  const healthy = { report: async () => ({ healthy: true, reasons: [], etcdAnsweredMsAgo: 1200 }) };

  it('serves the exposition as Prometheus text', async () => {
    const m = new PluginMetrics();
    m.etcdError('read');
    const res = await buildMetricsServer(m, healthy).inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(valueOf(parseExposition(res.body), 'ts_overlay_etcd_errors_total', { op: 'read' })).toBe(1);
  });

  it('answers /healthz with 200, or 503 and the reasons', async () => {
    const ok = await buildMetricsServer(new PluginMetrics(), healthy).inject({ method: 'GET', url: '/healthz' });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ status: 'ok', reasons: [], etcdAnsweredMsAgo: 1200 });
    const sick = { report: async () => ({ healthy: false, reasons: ['etcd last answered 40 s ago'], etcdAnsweredMsAgo: 40_000 }) };
    const bad = await buildMetricsServer(new PluginMetrics(), sick).inject({ method: 'GET', url: '/healthz' });
    expect(bad.statusCode).toBe(503);
    expect(bad.json()).toMatchObject({ status: 'unhealthy', reasons: ['etcd last answered 40 s ago'] });
  });
});

describe('--metrics-addr', () => {
  const addr = (value: string) => loadConfig(['--metrics-addr', value], {}).metricsAddr;

  it('is off unless given', () => {
    expect(loadConfig([], {}).metricsAddr).toBeUndefined();
  });

  it('takes HOST:PORT, [IPv6]:PORT and :PORT, also from TS_OVERLAY_METRICS_ADDR', () => {
    expect(addr('127.0.0.1:9477')).toEqual({ host: '127.0.0.1', port: 9477 });
    expect(addr('[::1]:9477')).toEqual({ host: '::1', port: 9477 });
    expect(addr(':9477')).toEqual({ host: '0.0.0.0', port: 9477 });
    expect(loadConfig([], { TS_OVERLAY_METRICS_ADDR: 'localhost:1234' }).metricsAddr).toEqual({ host: 'localhost', port: 1234 });
  });

  it('refuses what is not HOST:PORT', () => {
    expect(() => addr('9477')).toThrow(/--metrics-addr: "9477" is not HOST:PORT/);
    expect(() => addr('127.0.0.1:99999')).toThrow(/must be an integer from 1 to 65535/);
    expect(() => addr('::1:9477')).toThrow(/is not HOST:PORT/);
  });
});
