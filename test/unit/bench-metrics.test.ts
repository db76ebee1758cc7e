import { describe, expect, it } from 'vitest';
import { cpuWaitBetween, cpuWaitText, parseSchedstat, readSchedstat } from '../../bench/cpu-wait.js';
import { etcdDiskBetween, etcdDiskText, parseEtcdMetrics } from '../../bench/etcd-disk.js';
import { connectionsOpened, parsePluginMetrics, pluginCountersBetween, pluginCountersText } from '../../bench/plugin-counters.js';
import { parsePrometheus, total } from '../../bench/prometheus.js';
import { PluginMetrics } from '../../src/metrics/plugin-metrics.js';

const BOUNDS = ['0.001', '0.002', '0.004', '0.008', '0.016', '0.032', '0.064', '0.128', '0.256', '0.512', '1.024', '2.048', '4.096', '8.192', '+Inf'];

/** etcd's /metrics text for the two histograms, from cumulative counts per bucket. */
function metrics(wal: number[], commit: number[], slowApplies: number): string {
  const histogram = (name: string, counts: number[]) => [
    `# HELP ${name} test`,
    `# TYPE ${name} histogram`,
    ...BOUNDS.map((le, i) => `${name}_bucket{le="${le}"} ${counts[i]}`),
    `${name}_sum 1.5`,
    `${name}_count ${counts.at(-1)}`,
  ];
  return [
    ...histogram('etcd_disk_wal_fsync_duration_seconds', wal),
    ...histogram('etcd_disk_backend_commit_duration_seconds', commit),
    '# TYPE etcd_server_slow_apply_total counter',
    `etcd_server_slow_apply_total ${slowApplies}`,
    'etcd_server_slow_read_indexes_total 0',
  ].join('\n');
}

describe("etcd's disk during a phase", () => {
  const before = parseEtcdMetrics(metrics([4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5], [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6], 1));

  it('counts the writes between two readings, the ones over 64 ms and the slowest one\'s bucket', () => {
    // 100 more fsyncs: 90 up to 1 ms, 6 up to 64 ms, 3 up to 128 ms, 1 up to 512 ms.
    const after = parseEtcdMetrics(metrics([94, 94, 94, 95, 96, 98, 101, 104, 104, 105, 105, 105, 105, 105, 105], [6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7], 3));
    const d = etcdDiskBetween(before, after);
    expect(d.walFsync).toEqual({ count: 100, over64ms: 4, slowestAtMostMs: 512 });
    expect(d.backendCommit).toEqual({ count: 1, over64ms: 0, slowestAtMostMs: 2 });
    expect(d.slowApplies).toBe(2);
    expect(etcdDiskText(d)).toBe('WAL fsyncs 100, 4 over 64 ms, slowest <= 512 ms; backend commits 1, 0 over 64 ms, slowest <= 2 ms; applies over 100 ms: 2');
  });

  it('says none when nothing was written, and "over 8 s" for a write past the last bound', () => {
    expect(etcdDiskBetween(before, before).walFsync).toEqual({ count: 0, over64ms: 0, slowestAtMostMs: 0 });
    const stalled = parseEtcdMetrics(metrics([4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6], [6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6], 1));
    const d = etcdDiskBetween(before, stalled);
    expect(d.walFsync).toEqual({ count: 1, over64ms: 1, slowestAtMostMs: Infinity });
    expect(etcdDiskText(d)).toContain('WAL fsyncs 1, 1 over 64 ms, slowest over 8 s');
  });

  it('refuses metrics without the histograms (not etcd, or a version that names them otherwise)', () => {
    expect(() => parseEtcdMetrics('go_goroutines 12\n')).toThrow(/etcd's metrics have no etcd_disk_wal_fsync_duration_seconds/);
  });
});

describe('Prometheus text', () => {
  it('reads names, labels (escapes decoded) and values, blanks of any kind before the value, +Inf, and skips comments', () => {
    const samples = parsePrometheus('# HELP x y\nx_total{a="1",b="say \\"hi\\"\\n"} 3\nx_total{a="2"}\t4\nup  1\nh_bucket{le="+Inf"} +Inf\n\n');
    expect(samples).toEqual([
      { name: 'x_total', labels: { a: '1', b: 'say "hi"\n' }, value: 3 },
      { name: 'x_total', labels: { a: '2' }, value: 4 },
      { name: 'up', labels: {}, value: 1 },
      { name: 'h_bucket', labels: { le: '+Inf' }, value: Infinity },
    ]);
    expect(total(samples, 'x_total')).toBe(7);
    expect(total(samples, 'x_total', { a: '2' })).toBe(4);
    // A metric that is not exposed is not a zero.
    expect(total(samples, 'absent')).toBeNaN();
  });

  it('refuses a line that is not a sample, rather than read past it', () => {
    expect(() => parsePrometheus('ok 1\n{broken} 2\n')).toThrow(/not a sample line: \{broken\} 2/);
  });
});

describe("a plugin's own counts during a phase", () => {
  it("reads the plugin's real exposition: Joins, spares, Joins and etcd transactions over 50 ms by its clock, reconciles", async () => {
    const metrics = new PluginMetrics();
    metrics.declareCalls(['NetworkDriver.Join', 'IpamDriver.RequestAddress']);
    // No Join yet: the latency histogram has no Join series, and that is zero, not an error.
    const before = parsePluginMetrics(await metrics.registry.metrics());
    // Without process metrics there are no GC figures: unknown, not none.
    expect(before).toEqual({ joins: 0, spares: 0, joinsOver50ms: 0, reconciles: 0, txnsOver50ms: 0, commitsOver50ms: 0, gcPauseMs: NaN, gcPausesOver10ms: NaN });
    for (const s of [0.01, 0.02, 0.05, 0.2]) metrics.apiCall('NetworkDriver.Join', 'ok', s);
    metrics.apiCall('NetworkDriver.Join', 'error', 0.07);
    metrics.apiCall('IpamDriver.RequestAddress', 'ok', 0.3); // not a Join
    metrics.sparePortHandedOut();
    metrics.sparePortHandedOut();
    metrics.reconciled('ok', {});
    for (const s of [0.004, 0.06, 0.08]) metrics.etcdTxnAnswered(s);
    metrics.etcdCommitted(0.004);
    metrics.etcdCommitted(0.055);
    const after = parsePluginMetrics(await metrics.registry.metrics());
    const during = pluginCountersBetween(before, after);
    // 0.05 s is in the 50 ms bucket (le is inclusive): two Joins over it, one of them failed.
    expect(during).toEqual({ joins: 5, spares: 2, joinsOver50ms: 2, reconciles: 1, txnsOver50ms: 2, commitsOver50ms: 1, gcPauseMs: NaN, gcPausesOver10ms: NaN });
    expect(pluginCountersText(during)).toBe('Joins 5, 2 with a spare, 2 over 50 ms inside the plugin; etcd transactions over 50 ms 2 (commits 1); reconcile passes 1');
    // A build without the spare counter (older than it): not a share of 0 %.
    const older = parsePluginMetrics((await metrics.registry.metrics()).split('\n').filter((l) => !l.includes('spare_ports')).join('\n'));
    expect(older.spares).toBeNaN();
    expect(older.joins).toBe(5);
  });

  it("reads node's own GC pauses when the plugin serves process metrics", async () => {
    const metrics = new PluginMetrics({ processMetrics: true });
    let kept: number[][] = [];
    for (let i = 0; i < 200_000; i++) kept = i % 1000 === 0 ? [] : [...kept.slice(-10), [i]]; // garbage: young-generation collections
    void kept;
    // node reports GC to its observers asynchronously
    await expect.poll(async () => parsePluginMetrics(await metrics.registry.metrics()).gcPauseMs, { timeout: 5000 }).toBeGreaterThan(0);
    const c = parsePluginMetrics(await metrics.registry.metrics());
    expect(Number.isInteger(c.gcPausesOver10ms)).toBe(true); // a count, read from the histogram (NaN when missing)
  });

  it('reads the connections opened to the socket, and NaN from a build that does not count them', async () => {
    const metrics = new PluginMetrics();
    metrics.connectionOpened(3);
    metrics.connectionOpened(1);
    const text = await metrics.registry.metrics();
    expect(connectionsOpened(text)).toBe(4);
    expect(connectionsOpened(text.split('\n').filter((l) => !l.includes('connections_opened')).join('\n'))).toBeNaN();
  });
});

describe("a thread's time on a CPU and waiting for one", () => {
  it('takes the shares of the time between two schedstat readings', () => {
    const before = parseSchedstat('400000000 200000000 2900\n', 10_000);
    const after = parseSchedstat('800000000 800000000 3400\n', 11_000);
    const w = cpuWaitBetween(before, after);
    expect(w).toEqual({ seconds: 1, onCpu: 0.4, waiting: 0.6 });
    expect(cpuWaitText(w)).toBe('on a CPU 40 %, waiting for one 60 %');
  });

  it('refuses what is not a schedstat line, and readings out of order', () => {
    expect(() => parseSchedstat('no such thing', 0)).toThrow(/not a schedstat line: "no such thing"/);
    const r = parseSchedstat('1 2 3', 5);
    expect(() => cpuWaitBetween(r, r)).toThrow(/must come after/);
  });

  it("reads this process's own main thread from the kernel: a busy loop is time on a CPU", () => {
    const before = readSchedstat(process.pid);
    const until = performance.now() + 60;
    while (performance.now() < until); // busy, never sleeping
    const w = cpuWaitBetween(before, readSchedstat(process.pid));
    // On a CPU or waiting for one the whole time (the shares sum to about 1), and on one for some of it.
    expect(w.onCpu + w.waiting).toBeGreaterThan(0.9);
    expect(w.onCpu + w.waiting).toBeLessThan(1.1);
    expect(w.onCpu).toBeGreaterThan(0);
  });
});
