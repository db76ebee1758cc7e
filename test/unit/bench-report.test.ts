import { describe, expect, it } from 'vitest';
import { ratioChart } from '../../bench/chart.js';
import { iperf3Gbps, pingRtts } from '../../bench/netperf.js';
import { rotated } from '../../bench/stats.js';
import { shareUnder } from '../../bench/median-spread.js';
import { benchCommand, buildReport, checkComplete, type CompareFigures, controlPlaneRows, cpuPerEndpointText, type ControlPlaneFigures, type EncryptionFigures, inFlightCurveSection, type ManyNetworksFigures, type NamesFigures, reportMarkdown } from '../../bench/report-model.js';
import { parseXml } from '../helpers/xml.js';

const tput = (gbps: number, mtu: number) => ({ gbps, mtu, samples: [gbps] });
const stat = (medianMs: number, p95Ms: number) => ({ medianMs, p95Ms, samples: [medianMs, p95Ms], missed: 0 });

const compare: CompareFigures = {
  date: '2026-11-26T08:00:00.000Z',
  durationSeconds: 600,
  smoke: false,
  machine: { cpus: 2, cpuModel: 'test cpu', memoryGiB: 24, kernel: '6.1.0', docker: '20.10.24' },
  settings: { runs: 20, iperfSeconds: 5, repeats: 3, pings: 200, jumboUnderlayMtu: 9000 },
  paths: { underlay: 'underlay', kernelVxlan: 'kernel VXLAN', kernelVxlanNetns: 'kernel VXLAN, own namespace', kernelMacvlan: 'kernel VXLAN, macvlan', kernelMacvlanRules: 'kernel VXLAN, macvlan, container rules', tsOverlay: 'ts-overlay', classic: 'classic', swarm: 'swarm', classicTuned: 'classic tuned', swarmTuned: 'swarm tuned' },
  // kernelMacvlan and kernelMacvlanRules differ on purpose (the rules path even faster at jumbo,
  // which no real run gives) so that the targets visibly follow the rules path.
  throughput: {
    default: { underlay: tput(17, 1500), kernelVxlan: tput(14, 1450), kernelVxlanNetns: tput(16, 1450), kernelMacvlan: tput(15, 1450), kernelMacvlanRules: tput(14, 1450), tsOverlay: tput(14, 1450), classic: tput(14, 1450), swarm: tput(7, 1450) },
    jumbo: { underlay: tput(40, 9000), kernelVxlan: tput(30, 8950), kernelVxlanNetns: tput(30, 8950), kernelMacvlan: tput(27, 8950), kernelMacvlanRules: tput(30, 8950), tsOverlay: tput(27, 8950), classic: tput(14, 1450), swarm: tput(14, 1450), classicTuned: tput(30, 8950), swarmTuned: tput(27, 8950) },
  },
  latency: { tsOverlay: { medianMs: 0.1, p99Ms: 0.3, answers: 200, sent: 200 } },
  dockerRun: { tsOverlay: stat(240, 300), bridge_tsOverlay: stat(200, 250), classic: stat(400, 480), bridge_classic: stat(200, 240), swarm: stat(800, 900), bridge_swarm: stat(200, 260) },
  convergence: { tsOverlay: stat(-5, 40), classic: stat(93, 144), swarm: stat(794, 864) },
  propagation: { medianMs: 30, maxMs: 60, samples: [30, 60] },
};

const controlPlane: ControlPlaneFigures = {
  date: '2026-11-26T08:10:00.000Z',
  endpoints: 2000,
  concurrency: 32,
  allocationsPerSecond: 450,
  createSeconds: 5,
  latency: { 'IpamDriver.RequestAddress': { p50: 5, p99: 20, calls: 2000 }, 'NetworkDriver.Join': { p50: 10, p99: 80, calls: 2000 } },
  fdbCompleteMsAfterLastCreate: 900,
  pluginRssMiB: [120, 150],
  etcd: { keysPerEndpoint: 2, bytesPerEndpoint: 400 },
  restart: { endpoints: 1500, msUntilServing: 1500 },
  atRate: { endpointsPerSecond: 500, endpoints: 2000, achievedPerSecond: 498, lateMsP99: 2, latency: { 'IpamDriver.RequestAddress': { p50: 4, p99: 50, calls: 2000 }, 'NetworkDriver.Join': { p50: 3, p99: 12, calls: 2000 } } },
  asEngine: { allocationsPerSecond: 500, createSeconds: 4.5, latency: { 'IpamDriver.RequestAddress': { p50: 3, p99: 51, calls: 2000 } }, fdbCompleteMsAfterLastCreate: 40 },
};

describe('bench output parsing', () => {
  it('reads the receiver\'s throughput from iperf3 -J, and refuses an iperf3 error', () => {
    expect(iperf3Gbps(JSON.stringify({ end: { sum_sent: { bits_per_second: 15e9 }, sum_received: { bits_per_second: 14.5e9 } } }))).toBeCloseTo(14.5);
    expect(() => iperf3Gbps(JSON.stringify({ error: 'unable to connect to server: Connection refused' }))).toThrow(/Connection refused/);
    expect(() => iperf3Gbps('{}')).toThrow(/sum_received/);
  });

  it('reads every RTT from iputils and busybox ping, and none from lost packets', () => {
    const iputils = 'PING 10.0.0.3 (10.0.0.3) 56(84) bytes of data.\n64 bytes from 10.0.0.3: icmp_seq=1 ttl=64 time=0.112 ms\n64 bytes from 10.0.0.3: icmp_seq=2 ttl=64 time=1.05 ms\n\n--- 10.0.0.3 ping statistics ---\n3 packets transmitted, 2 received, 33% packet loss';
    expect(pingRtts(iputils)).toEqual([0.112, 1.05]);
    expect(pingRtts('64 bytes from 10.210.0.50: seq=0 ttl=64 time=0.365 ms')).toEqual([0.365]);
    expect(pingRtts('From 10.0.0.1 icmp_seq=1 Destination Host Unreachable')).toEqual([]);
  });
});

const names: NamesFigures = { runs: 20, appear: { median: 5, p95: 200, samples: 20 }, vanish: { median: -120, p95: 201, samples: 20 } };
const encryption: EncryptionFigures = { runs: 3, secondsPerRun: 5, plainGbitPerSecond: 10, encryptedGbitPerSecond: 0.1, ratio: 0.01 };
const manyNetworks: ManyNetworksFigures = { networks: 200, reconcileIntervalSeconds: 5, medians: [{ createMs: 90.5, pluginCpuMsPerPass: 1700, machineCpuMsPerPass: 4200, restartMs: 1500 }] };

describe('the bench report', () => {
  const report = buildReport(compare, controlPlane, names, encryption, manyNetworks);

  it('computes the ratios side by side', () => {
    expect(report.ratios['throughput.default.tsOverlay/kernelMacvlan']).toBeCloseTo(14 / 15);
    expect(report.ratios['throughput.default.tsOverlay/kernelMacvlanRules']).toBeCloseTo(1);
    expect(report.ratios['throughput.default.tsOverlay/swarm']).toBeCloseTo(2);
    expect(report.ratios['throughput.jumbo.tsOverlay/classicTuned']).toBeCloseTo(0.9);
    expect(report.ratios['throughput.jumboGain.tsOverlay']).toBeCloseTo(27 / 14);
    expect(report.ratios['dockerRun.tsOverlay/bridge']).toBeCloseTo(1.2);
    expect(report.ratios['dockerRun.swarm/bridge']).toBeCloseTo(4);
  });

  it('reports what the data path\'s shape is worth as informational ratios, not targets', () => {
    expect(report.ratios['throughput.default.tsOverlay/kernelVxlanNetns']).toBeCloseTo(14 / 16);
    expect(report.ratios['throughput.default.kernelMacvlan/kernelVxlanNetns']).toBeCloseTo(15 / 16);
    expect(report.ratios['throughput.jumbo.kernelMacvlanRules/kernelMacvlan']).toBeCloseTo(30 / 27);
    expect(report.ratios['throughput.default.kernelVxlanNetns/kernelVxlan']).toBeCloseTo(16 / 14);
    expect(report.ratios['throughput.jumbo.tsOverlay/kernelVxlanNetns']).toBeCloseTo(0.9);
    expect(report.ratios['throughput.jumbo.kernelVxlanNetns/kernelVxlan']).toBeCloseTo(1);
    expect(report.targets.length).toBe(18);
    expect(report.targets.some((t) => /network namespace/.test(t.what))).toBe(false);
    const md = reportMarkdown(report, 'npm run bench');
    expect(md).toContain("| ts-overlay / hand-made bridge in a network namespace (the overlays' shape) | 0.88x | 0.90x |");
    expect(md).toContain('| hand-made bridge in a network namespace / in the host namespace | 1.14x | 1.00x |');
    const without = buildReport({ ...compare, throughput: { ...compare.throughput, default: { ...compare.throughput.default, kernelVxlanNetns: tput(NaN, 1450) } } }, controlPlane, names, encryption, manyNetworks);
    expect([...new Set(without.missing)]).toEqual(['throughput.default.kernelVxlanNetns']);
  });

  it('marks each target met or missed from the figures, at the boundaries too', () => {
    const met = Object.fromEntries(report.targets.map((t) => [t.what, t.met]));
    // Against the shape whose namespaces hold a container's rules (1.00 and 0.90), not the bare one (0.93 and 1.00).
    expect(met["throughput / hand-made kernel VXLAN of the same shape (macvlan, namespaces holding a container's iptables rules), 1500 underlay"]).toBe(true);
    expect(met["throughput / hand-made kernel VXLAN of the same shape (macvlan, namespaces holding a container's iptables rules), 9000 underlay"]).toBe(false);
    expect(met['throughput / classic overlay with mtu=9000, 9000 underlay']).toBe(false);
    expect(met['`docker run -d` / bridge (medians)']).toBe(true); // exactly 1.2
    expect(met['convergence p95']).toBe(true);
    expect(met['allocations per second, all at once (32 calls in flight per host)']).toBe(false);
    expect(met['API p99 (slowest call), all at once (32 calls in flight per host)']).toBe(false); // Join's 80 ms
    expect(met['allocations per second, calls as an engine sends them']).toBe(true); // exactly 500
    expect(met['API p99 (slowest call), calls as an engine sends them']).toBe(false); // 51 ms
    expect(met['API p99 (slowest call) at 500 endpoints/s offered']).toBe(true); // exactly 50 ms
    expect(met['plugin RSS (largest host)']).toBe(false); // 150 MiB is 157 MB
    expect(met['a name resolves on another host after `docker run -d` (p95)']).toBe(true); // exactly 200 ms
    expect(met['a name stops resolving after `docker rm -f` (p95)']).toBe(false); // 201 ms
    expect(report.ratios['throughput.encrypted/plain']).toBeCloseTo(0.01);
    const smaller = buildReport(compare, { ...controlPlane, pluginRssMiB: [100, 143] }); // 143 MiB is 149.9 MB
    expect(smaller.targets.find((t) => t.what === 'plugin RSS (largest host)')?.met).toBe(true);
    // A control-plane report from before the latency at a given load was measured: that target has no figure.
    const { atRate: _none, ...older } = controlPlane;
    expect(buildReport(compare, older, names, encryption, manyNetworks).missing).toEqual(['target: API p99 (slowest call) at 500 endpoints/s offered']);
    // One from before the calls were also made as an engine sends them: those two targets have no figures.
    const { asEngine: _notYet, ...earlier } = controlPlane;
    expect(buildReport(compare, earlier, names, encryption, manyNetworks).missing).toEqual(['target: allocations per second, calls as an engine sends them', 'target: API p99 (slowest call), calls as an engine sends them']);
  });

  it('gives the cost of a reconcile pass with many networks, in all and per network, and names a figure that is missing', () => {
    const md = reportMarkdown(report, 'npm run bench');
    expect(md).toContain("| a periodic reconcile pass: host 1's plugin with the `ip` and `iptables` processes it ran | 1700 ms of CPU (8.5 ms per network) |");
    expect(md).toContain("| host 1's plugin killed and started again: until it serves (its first pass done) | 1500 ms |");
    const noPass = buildReport(compare, controlPlane, names, encryption, { ...manyNetworks, medians: [{ ...manyNetworks.medians[0]!, pluginCpuMsPerPass: NaN }] });
    expect(noPass.missing).toEqual(['manyNetworks.pluginCpuMsPerPass']);
  });

  it('lists no missing figure for a complete run, and names each one that is missing', () => {
    expect(report.missing).toEqual([]);
    const partial = buildReport({ ...compare, throughput: { ...compare.throughput, jumbo: { ...compare.throughput.jumbo, swarmTuned: tput(NaN, 8950) } } }, undefined);
    expect(partial.missing).toContain('throughput.jumbo.swarmTuned');
    expect(partial.missing).toContain('controlPlane');
    expect(partial.missing).toEqual(expect.arrayContaining(['names', 'encryption', 'manyNetworks']));
    expect(partial.targets.find((t) => t.what === 'allocations per second, calls as an engine sends them')).toMatchObject({ met: false, value: 'n/a' });
  });

  it('lets a smoke run pass with Docker\'s overlays\' figures missing only when the run recorded why', () => {
    const withoutClassic = buildReport({ ...compare, throughput: { default: { ...compare.throughput.default, classic: tput(NaN, 1450) }, jumbo: { ...compare.throughput.jumbo, classic: tput(NaN, 1450), classicTuned: tput(NaN, 8950) } } }, controlPlane, names, encryption, manyNetworks);
    expect(withoutClassic.missing).toEqual(expect.arrayContaining(['throughput.default.classic', 'throughput.jumbo.classicTuned', 'target: throughput / classic overlay, 1500 underlay']));
    expect(checkComplete(withoutClassic.missing, ['classic (MTU 1450): 10.210.0.4 did not answer a ping within 10 s'])).toBeUndefined();
    expect(checkComplete(withoutClassic.missing, [])).toMatch(/^missing figures of Docker's overlays and no problem recorded: throughput.default.classic/);
    // ts-overlay's or the kernel's figures are never excused, whatever the problems say.
    const withoutOurs = buildReport({ ...compare, throughput: { ...compare.throughput, default: { ...compare.throughput.default, tsOverlay: tput(NaN, 1450), kernelMacvlan: tput(NaN, 1450) } } }, controlPlane, names, encryption, manyNetworks);
    expect(checkComplete(withoutOurs.missing, ['tsOverlay: did not answer'])).toMatch(/^missing figures: throughput.default.tsOverlay, .*throughput.default.kernelMacvlan/);
    expect(checkComplete(report.missing)).toBeUndefined();
  });

  it('lists what went wrong during the run under the tables', () => {
    expect(reportMarkdown(report, 'npm run bench')).not.toContain('What went wrong');
    const md = reportMarkdown(buildReport({ ...compare, problems: ['classic (MTU 1450): 10.210.0.4 did not answer a ping within 10 s'] }, controlPlane, names, encryption, manyNetworks), 'npm run bench');
    expect(md).toContain('**What went wrong during the run** (compare.json `problems`)\n\n- classic (MTU 1450): 10.210.0.4 did not answer a ping within 10 s');
  });

  it('writes Markdown with the date, the machine, the command and every table', () => {
    const md = reportMarkdown(report, 'npm run bench');
    expect(md).toContain('Run 2026-11-26T08:00:00.000Z with `npm run bench` on 2 CPUs (test cpu), 24 GiB');
    for (const heading of ['**Targets**', '**Throughput, 1500-byte underlay**', '**Throughput, 9000-byte underlay**', '**Latency', '**`docker run -d`**', '**Convergence**', '**Control plane**', '**Names across hosts**', '**Cost of `-o encrypted=true`**', '**Many networks on a host**']) expect(md).toContain(heading);
    expect(md).toContain('| `docker run -d` / bridge (medians) | <= 1.2x | 1.20x | met |');
    expect(md).not.toContain('BENCH_ONLY');
    const partial = buildReport({ ...compare, settings: { ...compare.settings, only: 'throughput' } }, controlPlane, names, encryption, manyNetworks);
    expect(reportMarkdown(partial, 'BENCH_ONLY=throughput npx tsx bench/compare.ts')).toContain('(BENCH_ONLY=throughput: the other figures were not measured)');
    // How long the control plane's phases waited after their networks is said only when they did.
    expect(md).not.toContain('after its network was made');
    const settled = buildReport(compare, { ...controlPlane, settleMs: 3000 }, names, encryption, manyNetworks);
    expect(reportMarkdown(settled, 'npm run bench')).toContain('each phase started 3 s after its network was made');
  });

  it('names the command that made the figures when BENCH_COMMAND does not', () => {
    expect(benchCommand(compare, undefined)).toBe('npm run bench');
    expect(benchCommand({ ...compare, settings: { ...compare.settings, only: 'throughput', repeats: 7 } }, undefined)).toBe('BENCH_ONLY=throughput BENCH_REPEATS=7 npx tsx bench/compare.ts');
    expect(benchCommand(compare, 'bench/run --smoke')).toBe('bench/run --smoke');
  });

  it('shows the plugins\' helper threads within their CPU when the run measured them', () => {
    const cpu = { plugins: [1.5, 1.25], etcd: 0.96, loadGenerator: 0.31, machine: 4.96 };
    expect(cpuPerEndpointText(cpu)).toBe('1.50, 1.25 / 0.96 / 0.31 ms (whole machine 4.96 ms)');
    expect(cpuPerEndpointText({ ...cpu, pluginHelperThreads: [0.4, 0.125] })).toBe('1.50, 1.25 (helper threads 0.40, 0.13) / 0.96 / 0.31 ms (whole machine 4.96 ms)');
  });

  it('shows further all-at-once passes only when the run made them, each with its own figures', () => {
    const labels = (cp: ControlPlaneFigures) => controlPlaneRows(cp).map(([what]) => what!);
    expect(labels(controlPlane).some((w) => w.includes('again'))).toBe(false);
    const again = { ...controlPlane, allAtOnceAgain: [{ allocationsPerSecond: 777, createSeconds: 4, latency: {}, fdbCompleteMsAfterLastCreate: 30 }] };
    const rows = controlPlaneRows(again);
    expect(rows).toContainEqual(['allocations per second (RequestAddress), all at once again, pass 2, after every other phase', '777']);
    expect(rows.length).toBe(controlPlaneRows(controlPlane).length + 3);
  });

  it('shows the curve of calls in flight only when measured: one row per number, whether both all-at-once targets hold there', () => {
    expect(inFlightCurveSection(controlPlane)).toBe('');
    const point = (concurrency: number, allocationsPerSecond: number, joinP99: number, machine: number) => ({
      concurrency, allocationsPerSecond, createSeconds: 2000 / allocationsPerSecond, fdbCompleteMsAfterLastCreate: 30,
      latency: { 'IpamDriver.RequestAddress': { p50: 4, p99: 30, calls: 2000 }, 'NetworkDriver.Join': { p50: 9, p99: joinP99, calls: 2000 } },
      cpuMsPerEndpoint: { plugins: [0.5, 0.5], etcd: 0.2, loadGenerator: 0.2, machine },
    });
    const section = inFlightCurveSection({ ...controlPlane, inFlightCurve: [point(32, 900, 95, 1.8), point(8, 600, 42, 2.9), point(4, 450, 20, 3.5)] });
    const rows = section.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| calls'));
    expect(section).toContain('| calls in flight per host | allocations a second | endpoints ready a second | RequestAddress p50 / p99 | Join p50 / p99 | CPU per endpoint, whole machine |');
    expect(rows).toEqual([
      '| 32 | 900 | 900 | 4.0 ms / 30 ms | 9.0 ms / 95 ms | 1.80 ms | not both |',
      '| 8 | 600 | 600 | 4.0 ms / 30 ms | 9.0 ms / 42 ms | 2.90 ms | both |',
      '| 4 | 450 | 450 | 4.0 ms / 30 ms | 9.0 ms / 20 ms | 3.50 ms | not both |',
    ]);
    const report = buildReport(compare, { ...controlPlane, inFlightCurve: [point(8, NaN, 42, 2.9)] });
    expect(report.missing).toContain('controlPlane.inFlightCurve.8.allocationsPerSecond');
    expect(report.markdownTables).toContain('**Calls in flight and the tail**');
  });

  it('shows the removal of endpoints only when measured, with its rate, each call and the FDB entries gone, and names a missing figure', () => {
    const removalRow = (rows: string[][]) => rows.find((r) => r[0]!.startsWith('endpoints removed per second'));
    expect(removalRow(controlPlaneRows(controlPlane))).toBeUndefined();
    const removal = {
      endpoints: 2000, removalsPerSecond: 677.4, fdbGoneMsAfterLastRemoval: 34,
      latency: { 'NetworkDriver.Leave': { p50: 54, p99: 98, calls: 2000 }, 'NetworkDriver.DeleteEndpoint': { p50: 10, p99: 45, calls: 2000 } },
      cpuMsPerEndpoint: { plugins: [0.87, 0.84], etcd: 0.43, loadGenerator: 0.1, machine: 2.6 },
    };
    const rows = controlPlaneRows({ ...controlPlane, removal });
    expect(removalRow(rows)).toEqual(['endpoints removed per second (Leave, DeleteEndpoint, ReleaseAddress), 2000 endpoints', '677']);
    expect(rows).toContainEqual(['NetworkDriver.Leave p50 / p99, removal, all at once, 32 calls in flight per host', '54 ms / 98 ms']);
    expect(rows).toContainEqual(['no host has an FDB entry of them left, after the last removal returned', '34 ms']);
    expect(rows).toContainEqual(['CPU per endpoint: each plugin / etcd / load generator, removal, all at once, 32 calls in flight per host', '0.87, 0.84 / 0.43 / 0.10 ms (whole machine 2.60 ms)']);
    const report = buildReport(compare, { ...controlPlane, removal: { ...removal, fdbGoneMsAfterLastRemoval: NaN } });
    expect(report.missing).toContain('controlPlane.removal.fdbGone');
    expect(report.missing).not.toContain('controlPlane.removal.removalsPerSecond');
  });

  it('shows beside each allocation rate how many endpoints a second were ready, every call answered', () => {
    const rows = controlPlaneRows(controlPlane);
    expect(rows).toContainEqual(['endpoints ready per second (every call answered, Join last), calls as an engine sends them', '444']);
    expect(rows).toContainEqual(['endpoints ready per second (every call answered, Join last), all at once, 32 calls in flight per host', '400']);
  });

  it('shows how long one endpoint took, the wait for the engine\'s lock included, when the run measured it', () => {
    const label = 'one endpoint, start to Join answered (any wait for the engine\'s lock included) p50 / p99, calls as an engine sends them';
    expect(controlPlaneRows(controlPlane).some(([what]) => what === label)).toBe(false);
    const measured = { ...controlPlane, asEngine: { ...controlPlane.asEngine!, endpointMs: { p50: 60, p99: 140 } } };
    expect(controlPlaneRows(measured)).toContainEqual([label, '60 ms / 140 ms']);
  });

  it('shows the restarted plugin\'s phase, when the run measured it, apart from the phase on both hosts and outside the targets', () => {
    const labels = (cp: ControlPlaneFigures) => controlPlaneRows(cp).map(([what]) => what!);
    expect(labels(controlPlane).some((w) => w.includes('restarted plugin'))).toBe(false);
    const afterRestart = { endpointsPerSecond: 250, endpoints: 1000, achievedPerSecond: 249, lateMsP99: 3, latency: { 'IpamDriver.RequestAddress': { p50: 9, p99: 400, calls: 1000 } } };
    const measured = { ...controlPlane, afterRestart };
    const rows = controlPlaneRows(measured);
    expect(rows).toContainEqual(['at 250 endpoints/s offered to the restarted plugin alone, from the moment it serves (1000 endpoints started on a schedule, open loop): achieved', '249/s (sent up to 3.0 ms late, p99)']);
    expect(rows).toContainEqual(['IpamDriver.RequestAddress p50 / p99 at 250/s, just after the restart', '9.0 ms / 400 ms']);
    expect(rows).toContainEqual(['IpamDriver.RequestAddress p50 / p99 at 500/s', '4.0 ms / 50 ms']);
    expect(rows.some(([what]) => what!.includes('opened a connection'))).toBe(false);
    const withConnections = controlPlaneRows({ ...measured, atRate: { ...measured.atRate!, newConnections: { p50: 40, p99: 160, calls: 44, connectP99: 0.4 } } });
    expect(withConnections).toContainEqual(['of those, the calls that opened a connection of their own (every open one busy): how many, p50 / p99 (the connect alone, p99; of fewer than 100 calls, the p99 is the slowest) at 500/s', '44, 40 ms / 160 ms (0.4 ms)']);
    const withTail = controlPlaneRows({ ...measured, atRate: { ...measured.atRate!, overP99: { ms: 50, calls: 59, openedConnection: 31 } } });
    expect(withTail).toContainEqual(['the calls slower than the p99 of all calls: how many, and how many of them opened a connection of their own at 500/s', '59 over 50 ms, 31 of them']);
    // The target at the offered rate stays the phase on both (warm) plugins: 50 ms, met.
    expect(buildReport(compare, measured).targets.find((t) => t.what === 'API p99 (slowest call) at 500 endpoints/s offered')?.met).toBe(true);
  });

  it('shows what etcd\'s disk and each plugin counted in each phase that measured them', () => {
    expect(controlPlaneRows(controlPlane).some(([what]) => what!.startsWith('etcd\'s disk'))).toBe(false);
    const none = { count: 0, over64ms: 0, slowestAtMostMs: 0 };
    const etcdDisk = { walFsync: { count: 812, over64ms: 2, slowestAtMostMs: 256 }, backendCommit: none, slowApplies: 1 };
    const rows = controlPlaneRows({ ...controlPlane, etcdDisk, atRate: { ...controlPlane.atRate!, etcdDisk } });
    const text = 'WAL fsyncs 812, 2 over 64 ms, slowest <= 256 ms; backend commits 0; applies over 100 ms: 1';
    expect(rows).toContainEqual(['etcd\'s disk, all at once, 32 calls in flight per host', text]);
    expect(rows).toContainEqual(['etcd\'s disk, at 500/s', text]);
    expect(rows.some(([what]) => what === 'etcd\'s disk, calls as an engine sends them')).toBe(false);
    const pluginCounts = [{ joins: 1000, spares: 870, joinsOver50ms: 12, reconciles: 0, txnsOver50ms: 9, commitsOver50ms: 2, gcPauseMs: 310.4, gcPausesOver10ms: 2 }, { joins: 1000, spares: 990, joinsOver50ms: 0, reconciles: 1, txnsOver50ms: 0, commitsOver50ms: 0, gcPauseMs: 120, gcPausesOver10ms: 0 }];
    expect(controlPlaneRows({ ...controlPlane, pluginCounts })).toContainEqual([
      'each plugin\'s own counts, all at once, 32 calls in flight per host',
      'host 1: Joins 1000, 870 with a spare, 12 over 50 ms inside the plugin; etcd transactions over 50 ms 9 (commits 2); reconcile passes 0; GC pauses 310 ms (2 over 10 ms); host 2: Joins 1000, 990 with a spare, 0 over 50 ms inside the plugin; etcd transactions over 50 ms 0 (commits 0); reconcile passes 1; GC pauses 120 ms (0 over 10 ms)',
    ]);
  });

  it('shows the CPU per endpoint of a phase on a schedule that measured it', () => {
    const cpuMsPerEndpoint = { plugins: [1.5, 1.25], pluginHelperThreads: [0.3, 0.25], etcd: 0.5, loadGenerator: 0.25, machine: 4.5 };
    expect(controlPlaneRows({ ...controlPlane, atRate: { ...controlPlane.atRate!, cpuMsPerEndpoint } })).toContainEqual([
      'CPU per endpoint: each plugin / etcd / load generator, at 500/s',
      '1.50, 1.25 (helper threads 0.30, 0.25) / 0.50 / 0.25 ms (whole machine 4.50 ms)',
    ]);
    expect(controlPlaneRows(controlPlane).some(([what]) => what === 'CPU per endpoint: each plugin / etcd / load generator, at 500/s')).toBe(false);
  });

  it("shows where the scheduler had the plugins' main threads and the load generator in a phase that measured it", () => {
    expect(controlPlaneRows(controlPlane).some(([what]) => what!.startsWith('share of the phase'))).toBe(false);
    const cpuWait = { plugins: [{ seconds: 2.5, onCpu: 0.384, waiting: 0.612 }, { seconds: 2.5, onCpu: 0.41, waiting: 0.55 }], loadGenerator: { seconds: 2.5, onCpu: 0.2, waiting: 0.1 } };
    expect(controlPlaneRows({ ...controlPlane, cpuWait })).toContainEqual([
      "share of the phase each plugin's main thread and the load generator spent on a CPU and runnable but waiting for one, all at once, 32 calls in flight per host",
      'host 1: on a CPU 38 %, waiting for one 61 %; host 2: on a CPU 41 %, waiting for one 55 %; load generator: on a CPU 20 %, waiting for one 10 %',
    ]);
  });

  it('draws a well-formed SVG with one bar per figure and its value', () => {
    const svg = ratioChart('test', report.chart);
    const xml = parseXml(svg);
    expect(xml.elements[0]).toBe('svg');
    expect(xml.elements.filter((e) => e === 'rect').length).toBe(1 + report.chart.reduce((n, g) => n + g.bars.length, 0));
    expect(xml.texts).toContain('1.00x'); // ts-overlay / kernel VXLAN at 1500
    expect(xml.texts).toContain('40 ms'); // convergence p95 of ts-overlay
    const negative = parseXml(ratioChart('t', [{ title: 'g', unit: ' ms', target: 50, bars: [{ label: 'a', value: -30 }, { label: 'b', value: 100 }] }]));
    const widths = negative.attributes.filter((a) => a.element === 'rect').slice(1).map((a) => Number(a.attrs.width));
    expect(widths[0]! / widths[1]!).toBeCloseTo(0.3, 1); // both grow from zero, -30 to the left
    expect(negative.texts).toContain('-30 ms');
    expect(parseXml(ratioChart('a <b> & "c"', [])).texts).toContain('a <b> & "c"');
  });
});

describe('the order of a repeat', () => {
  it('starts where asked and wraps round, every item once', () => {
    expect(rotated(['a', 'b', 'c', 'd'], 0)).toEqual(['a', 'b', 'c', 'd']);
    expect(rotated(['a', 'b', 'c', 'd'], 3)).toEqual(['d', 'a', 'b', 'c']);
    expect(rotated(['a', 'b', 'c', 'd'], 6)).toEqual(['c', 'd', 'a', 'b']);
    expect(rotated([], 2)).toEqual([]);
  });

  it("over 3 repeats of 9 paths (compare.ts's starts), puts each path early, midway and late once", () => {
    const paths = Array.from({ length: 9 }, (_, i) => i);
    const slots = paths.map(() => [] as number[]);
    for (let r = 0; r < 3; r++) rotated(paths, Math.round((r * paths.length) / 3)).forEach((p, slot) => slots[p]!.push(Math.floor(slot / 3)));
    for (const s of slots) expect(s.sort()).toEqual([0, 1, 2]);
  });
});

describe('how often a median of repeats reads under a line', () => {
  it('counts every draw of repeats, the two paths drawn as pairs', () => {
    const same = [10, 11, 12];
    expect(shareUnder(same, same, 3, 0.95)).toBe(0);
    // One repeat in three at 0.9x: a median of 3 is under when 2 or 3 of the draws are that one.
    const a = [9, 10, 10];
    const b = [10, 10, 10];
    expect(shareUnder(a, b, 1, 0.95)).toBeCloseTo(1 / 3);
    expect(shareUnder(a, b, 3, 0.95)).toBeCloseTo(7 / 27);
  });
});
