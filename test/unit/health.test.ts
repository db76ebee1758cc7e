import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HealthMonitor, type HealthSources } from '../../src/metrics/health.js';
import { unixSocketProblem } from '../../src/metrics/serve-metrics.js';

/** Sources whose answers a test sets, and a clock it moves. */
function fixture() {
  const state = { socket: undefined as string | undefined, etcd: 'answers' as 'answers' | 'down' | 'no-record', probes: 0, now: 1_000_000 };
  const sources: HealthSources = {
    socketProblem: async () => state.socket,
    probeEtcd: async () => {
      state.probes++;
      if (state.etcd === 'down') throw new Error('etcd read failed: unreachable');
      return state.etcd === 'no-record' ? 'node h1 has no record in etcd' : undefined;
    },
  };
  const monitor = new HealthMonitor(sources, { probeIntervalMs: 5000, now: () => state.now });
  return { state, monitor };
}

describe('health', () => {
  it('is healthy when the socket is served and etcd answered, listing this node', async () => {
    const { monitor } = fixture();
    await monitor.probe();
    expect(await monitor.report()).toEqual({ healthy: true, reasons: [], etcdAnsweredMsAgo: 0 });
  });

  it('says etcd never answered, with the last error', async () => {
    const { state, monitor } = fixture();
    state.etcd = 'down';
    await monitor.probe();
    const r = await monitor.report();
    expect(r.healthy).toBe(false);
    expect(r.reasons).toEqual(['etcd has not answered since the plugin started (last error: etcd read failed: unreachable)']);
  });

  it('stays healthy through two missed probes and turns unhealthy after three intervals', async () => {
    const { state, monitor } = fixture();
    await monitor.probe();
    state.etcd = 'down';
    state.now += 10_000;
    await monitor.probe();
    expect((await monitor.report()).healthy).toBe(true);
    state.now += 6_000;
    await monitor.probe();
    const r = await monitor.report();
    expect(r.healthy).toBe(false);
    expect(r.reasons[0]).toMatch(/^etcd last answered 16 s ago, more than 15 s \(last error: etcd read failed: unreachable\)$/);
    state.etcd = 'answers';
    await monitor.probe();
    expect((await monitor.report()).healthy).toBe(true);
  });

  it('is unhealthy when etcd answers without this node (lease expired)', async () => {
    const { state, monitor } = fixture();
    state.etcd = 'no-record';
    await monitor.probe();
    expect((await monitor.report()).reasons).toEqual(['node h1 has no record in etcd']);
  });

  it('reports a socket problem together with etcd\'s', async () => {
    const { state, monitor } = fixture();
    state.socket = 'the plugin socket /x.sock is missing';
    state.etcd = 'down';
    await monitor.probe();
    expect((await monitor.report()).reasons).toHaveLength(2);
  });

  it('joins a probe in progress instead of starting another', async () => {
    const { state, monitor } = fixture();
    await Promise.all([monitor.probe(), monitor.probe(), monitor.probe()]);
    expect(state.probes).toBe(1);
  });

  it('probes in the background after start, and stops', async () => {
    const { state } = fixture();
    const monitor = new HealthMonitor({ socketProblem: async () => undefined, probeEtcd: async () => void state.probes++ }, { probeIntervalMs: 20 });
    await monitor.start();
    await expect.poll(() => state.probes, { timeout: 5000 }).toBeGreaterThanOrEqual(3);
    monitor.stop();
    const seen = state.probes;
    await new Promise((r) => setTimeout(r, 60));
    expect(state.probes).toBe(seen);
  });
});

describe('plugin socket health', () => {
  it('notices a socket file removed under a listening server, and a closed server', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tso-health-'));
    const path = join(dir, 'p.sock');
    const server: Server = createServer();
    await new Promise<void>((r) => server.listen(path, r));
    try {
      expect(await unixSocketProblem(server, path)).toBeUndefined();
      rmSync(path);
      expect(await unixSocketProblem(server, path)).toMatch(/is missing/);
    } finally {
      await new Promise((r) => server.close(r));
      rmSync(dir, { recursive: true, force: true });
    }
    expect(await unixSocketProblem(server, path)).toMatch(/not listening/);
  });
});
