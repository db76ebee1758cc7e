/**
 * From the figures of one run (in bench/results: compare.json from bench/compare.ts,
 * control-plane.json from bench/control-plane.ts, names.json from bench/names.ts, encryption.json
 * from bench/encryption.ts) to the tables, the ratios and the targets (issue 5, and the name
 * freshness of issue 7). Pure: the unit tests feed it fixed figures.
 */
import { type CpuWait, cpuWaitText } from './cpu-wait.js';
import { type EtcdDiskFigures, etcdDiskText } from './etcd-disk.js';
import { type PluginCounters, pluginCountersText } from './plugin-counters.js';
import type { ChartGroup } from './chart.js';

interface Stat { readonly medianMs: number; readonly p95Ms: number }
interface Tput { readonly gbps: number; readonly mtu: number; readonly samples: readonly number[] }

export interface CompareFigures {
  readonly date: string;
  readonly durationSeconds: number;
  readonly smoke: boolean;
  readonly machine: { readonly cpus: number; readonly cpuModel: string; readonly memoryGiB: number; readonly loadAverage1m?: { readonly start: number; readonly end: number }; readonly kernel: string; readonly docker: string };
  readonly settings: { readonly runs: number; readonly iperfSeconds: number; readonly repeats: number; readonly pings: number; readonly jumboUnderlayMtu: number; readonly only?: string };
  readonly paths: Readonly<Record<string, string>>;
  readonly throughput: { readonly default: Readonly<Record<string, Tput>>; readonly jumbo: Readonly<Record<string, Tput>> };
  readonly latency: Readonly<Record<string, { readonly medianMs: number; readonly p99Ms: number; readonly answers: number; readonly sent: number }>>;
  readonly dockerRun: Readonly<Record<string, Stat>>;
  readonly convergence: Readonly<Record<string, Stat & { readonly missed: number; readonly samples: readonly number[] }>>;
  readonly propagation: { readonly medianMs: number; readonly maxMs: number; readonly samples: readonly number[] };
  /** What went wrong during the run (a path that never answered, an iperf3 that failed). */
  readonly problems?: readonly string[];
}

/**
 * What bench/control-plane.ts writes (only the fields the report reads): at the top, the run
 * that made the endpoints all at once.
 */
export interface ControlPlaneFigures extends CreationFigures {
  readonly date: string;
  readonly endpoints: number;
  readonly concurrency: number;
  /** How long each phase waited after its network was made; absent in reports from before it did. */
  readonly settleMs?: number;
  readonly pluginRssMiB: readonly number[];
  readonly etcd: { readonly keysPerEndpoint: number; readonly bytesPerEndpoint: number };
  readonly restart: { readonly endpoints: number; readonly msUntilServing: number };
  /** The restarted plugin's latency at its host's share of the offered load, from the moment it serves; absent in reports from before it was measured. */
  readonly afterRestart?: RateFigures;
  /** The API's latency at a given offered load (open loop); absent in reports from before it was measured. */
  readonly atRate?: RateFigures;
  /**
   * The same number of endpoints with their calls as an engine sends them (on each host one
   * RequestAddress + CreateEndpoint at a time, the engine's network lock; Joins overlapping);
   * absent in reports from before it was measured.
   */
  readonly asEngine?: CreationFigures;
  /** BENCH_ALL_AT_ONCE_PASSES > 1: the all-at-once phase again, after every other phase (warm plugins). */
  readonly allAtOnceAgain?: readonly CreationFigures[];
  /** BENCH_IN_FLIGHT_CURVE: the all-at-once phase at each of these calls in flight per host, after every other phase. */
  readonly inFlightCurve?: ReadonlyArray<CreationFigures & { readonly concurrency: number }>;
  /** The endpoints made as an engine sends them, removed all at once, last; absent in reports from before it was measured. */
  readonly removal?: RemovalFigures;
}

/** CPU per endpoint of a phase, in ms. */
export interface CpuPerEndpoint {
  readonly plugins: readonly number[];
  /** Of each plugin's, its threads other than the main one (V8's compiler and GC helpers); absent before it was measured. */
  readonly pluginHelperThreads?: readonly number[];
  readonly etcd: number;
  readonly loadGenerator: number;
  /** Absent before it was measured. */
  readonly machine?: number;
}

/** Where the scheduler had the phase's main threads (bench/cpu-wait.ts). */
export interface PhaseCpuWait {
  readonly plugins: readonly CpuWait[];
  readonly loadGenerator: CpuWait;
}

/** What every phase counts besides its calls (bench/control-plane.ts, countsSince); each absent in reports from before it was measured. */
export interface PhaseCounts {
  /** In phases on a schedule, only since add70a2. */
  readonly cpuMsPerEndpoint?: CpuPerEndpoint;
  /** What etcd's disk did during the phase. */
  readonly etcdDisk?: EtcdDiskFigures;
  /** What each plugin of the phase (host 1 first) counted during it. */
  readonly pluginCounts?: readonly PluginCounters[];
  /** The shares of the phase each plugin's main thread (host 1 first) and the load generator spent on a CPU and waiting for one. */
  readonly cpuWait?: PhaseCpuWait;
}

/** Endpoints started on a schedule (open loop): what bench/control-plane.ts measures of them. */
export interface RateFigures extends PhaseCounts {
  readonly endpointsPerSecond: number;
  readonly endpoints: number;
  readonly achievedPerSecond: number;
  readonly lateMsP99: number;
  readonly latency: Readonly<Record<string, { readonly p50: number; readonly p99: number; readonly calls: number }>>;
  /**
   * The calls (of any method) that opened a connection of their own because every open one was
   * busy; absent in reports from before it was measured.
   */
  readonly newConnections?: { readonly p50: number; readonly p99: number; readonly calls: number; readonly connectP99: number };
  /** The calls (of any method) slower than the p99 of all calls, and how many of them opened a connection; absent in reports from before it was measured. */
  readonly overP99?: { readonly ms: number; readonly calls: number; readonly openedConnection: number };
}

/** One run of making endpoints: what bench/control-plane.ts measures of it. */
export interface CreationFigures extends PhaseCounts {
  readonly allocationsPerSecond: number;
  /** From the first call until every endpoint's Join answered. */
  readonly createSeconds: number;
  /**
   * Each endpoint from its start to its Join answered, the wait for an engine's lock included;
   * absent in reports from before it was measured.
   */
  readonly endpointMs?: { readonly p50: number; readonly p99: number };
  readonly latency: Readonly<Record<string, { readonly p50: number; readonly p99: number; readonly calls: number }>>;
  readonly fdbCompleteMsAfterLastCreate: number;
}

/** One run of removing endpoints (Leave, DeleteEndpoint, ReleaseAddress each): what bench/control-plane.ts measures of it. */
export interface RemovalFigures extends PhaseCounts {
  readonly endpoints: number;
  readonly removalsPerSecond: number;
  readonly latency: Readonly<Record<string, { readonly p50: number; readonly p99: number; readonly calls: number }>>;
  /** From the last removal answered until no host had an FDB entry of the removed endpoints left. */
  readonly fdbGoneMsAfterLastRemoval: number;
}

/** What bench/names.ts writes (only the fields the report reads). */
export interface NamesFigures {
  readonly runs: number;
  readonly appear: { readonly median: number; readonly p95: number; readonly samples: number };
  readonly vanish: { readonly median: number; readonly p95: number; readonly samples: number };
}

/** What bench/encryption.ts writes (only the fields the report reads). */
export interface EncryptionFigures {
  readonly runs: number;
  readonly secondsPerRun: number;
  readonly plainGbitPerSecond: number;
  readonly encryptedGbitPerSecond: number;
  readonly ratio: number;
}

/** What bench/many-networks.ts writes (only the fields the report reads): the last build's medians (this checkout's, in an A/B) are this run's. */
export interface ManyNetworksFigures {
  readonly networks: number;
  readonly reconcileIntervalSeconds: number;
  readonly medians: ReadonlyArray<{ readonly createMs: number; readonly pluginCpuMsPerPass: number; readonly machineCpuMsPerPass: number; readonly restartMs: number }>;
}

export interface Target {
  readonly what: string;
  readonly target: string;
  readonly value: string;
  /** The figure the target is checked on (NaN when it could not be measured). */
  readonly figure: number;
  readonly met: boolean;
}

export interface Report {
  readonly date: string;
  readonly machine: CompareFigures['machine'];
  readonly smoke: boolean;
  /** BENCH_ONLY of bench/compare.ts, when the run measured only part of the figures. */
  readonly only?: string;
  readonly markdownTables: string;
  readonly targets: readonly Target[];
  readonly ratios: Readonly<Record<string, number>>;
  readonly chart: readonly ChartGroup[];
  /** Names of figures that are missing or not finite: a complete run has none. */
  readonly missing: readonly string[];
  readonly problems: readonly string[];
}

/**
 * Whether a figure (a name in `missing`, a target's text, a ratio's key) is one of Docker's
 * own overlays, the systems ts-overlay is compared with, rather than ts-overlay's or the
 * kernel's: their keys and target texts are the only ones that say classic or swarm.
 */
export const isDockerOverlayFigure = (name: string): boolean => /classic|swarm/.test(name);

/**
 * What `report.ts --check` (the smoke run) lets pass: no figure missing, or only Docker's
 * overlays' figures and the run recorded why (Docker's classic overlay now and then never
 * reaches a container; that is Docker's to answer, and the run says so). Returns why it fails.
 */
export function checkComplete(missing: readonly string[], problems: readonly string[] = []): string | undefined {
  const ours = missing.filter((m) => !isDockerOverlayFigure(m));
  if (ours.length) return `missing figures: ${ours.join(', ')}`;
  if (missing.length && !problems.length) return `missing figures of Docker's overlays and no problem recorded: ${missing.join(', ')}`;
  return undefined;
}

const ms = (v: number) => (Number.isFinite(v) ? `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ms` : 'n/a');
const rtt = (v: number) => (Number.isFinite(v) ? `${v.toFixed(3)} ms` : 'n/a');
const gbit = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)} Gbit/s` : 'n/a');
const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : 'n/a');
/** A Markdown table. */
export const markdownTable = (head: readonly string[], rows: ReadonlyArray<readonly string[]>) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

const OVERLAYS = [['tsOverlay', 'ts-overlay'], ['classic', 'classic overlay'], ['swarm', 'swarm overlay']] as const;
/** 150 MB (decimal) in MiB, as the plugin's RSS is measured. */
const RSS_LIMIT_MIB = 150e6 / 2 ** 20;
/** What the throughput targets' reference is: ts-overlay's shape, and what the engine adds to any container. */
const SAME_SHAPE = "macvlan, namespaces holding a container's iptables rules";

/** The control plane's targets: endpoints a second, at least, and the slowest call's p99, at most. */
const ALLOCATIONS_PER_SECOND_TARGET = 500;
const API_P99_TARGET_MS = 50;

/** The p99 of the slowest API call: what the API p99 targets are held to. */
export const slowestP99 = (latency: Readonly<Record<string, { readonly p99: number }>>): number => Math.max(...Object.values(latency).map((l) => l.p99));

/**
 * "1.89, 1.90 (helper threads 0.40, 0.35) / 0.75 / 0.63 ms (whole machine 3.90 ms)": CPU per
 * endpoint of each plugin (and of it, its threads other than the main one), etcd, the load
 * generator and the whole machine.
 */
export function cpuPerEndpointText(cpu: CpuPerEndpoint): string {
  const list = (values: readonly number[]) => values.map((c) => c.toFixed(2)).join(', ');
  const helpers = cpu.pluginHelperThreads ? ` (helper threads ${list(cpu.pluginHelperThreads)})` : '';
  const machine = cpu.machine === undefined ? '' : ` (whole machine ${cpu.machine.toFixed(2)} ms)`;
  return `${list(cpu.plugins)}${helpers} / ${cpu.etcd.toFixed(2)} / ${cpu.loadGenerator.toFixed(2)} ms${machine}`;
}

/**
 * Endpoints a container could use, a second: every call answered, Join last. An allocation
 * rate alone would count addresses whose endpoints are still on their way.
 */
export const endpointsReadyPerSecond = (c: { readonly createSeconds: number }, endpoints: number): number => endpoints / c.createSeconds;

/** One row per API method of a phase: "METHOD p50 / p99" and `label` after it. */
const latencyRows = (latency: Readonly<Record<string, { readonly p50: number; readonly p99: number }>>, label: string): string[][] =>
  Object.entries(latency).map(([m, l]) => [`${m} p50 / p99${label}`, `${ms(l.p50)} / ${ms(l.p99)}`]);

/** Rows of one creation run, each labelled with how its calls came (`how`). */
function creationRows(c: CreationFigures, endpoints: number, how: string, name: string, need: (name: string, v: number) => number): string[][] {
  return [
    [`allocations per second (RequestAddress), ${how}`, need(`${name}.allocationsPerSecond`, c.allocationsPerSecond).toFixed(0)],
    [`endpoints ready per second (every call answered, Join last), ${how}`, need(`${name}.endpointsReady`, endpointsReadyPerSecond(c, endpoints)).toFixed(0)],
    ...latencyRows(c.latency, `, ${how}`),
    ...(c.endpointMs ? [[`one endpoint, start to Join answered (any wait for the engine's lock included) p50 / p99, ${how}`, `${ms(c.endpointMs.p50)} / ${ms(c.endpointMs.p99)}`]] : []),
    [`every host has every FDB entry, after the last create returned, ${how}`, ms(need(`${name}.fdbComplete`, c.fdbCompleteMsAfterLastCreate))],
    ...phaseCountRows(c, how),
  ];
}

/**
 * The control-plane benchmark's figures as [what, value] rows: the full report's table, and
 * what bench/control-plane.ts prints when run alone. NEED records a figure that is missing.
 */
export function controlPlaneRows(cp: ControlPlaneFigures, need: (name: string, v: number) => number = (_n, v) => v): string[][] {
  return [
    ...(cp.asEngine ? creationRows(cp.asEngine, cp.endpoints, 'calls as an engine sends them', 'controlPlane.asEngine', need) : []),
    ...creationRows(cp, cp.endpoints, `all at once, ${cp.concurrency} calls in flight per host`, 'controlPlane', need),
    ...(cp.allAtOnceAgain ?? []).flatMap((again, i) => creationRows(again, cp.endpoints, `all at once again, pass ${i + 2}, after every other phase`, `controlPlane.allAtOnceAgain.${i}`, need)),
    ['plugin RSS per host', cp.pluginRssMiB.map((r) => `${r.toFixed(0)} MiB`).join(', ')],
    ['etcd keys / bytes per endpoint', `${cp.etcd.keysPerEndpoint.toFixed(2)} / ${cp.etcd.bytesPerEndpoint.toFixed(0)} B`],
    [`restart with ${cp.restart.endpoints} local endpoints: SIGKILL -> reconciled and serving`, ms(need('controlPlane.restart', cp.restart.msUntilServing))],
    ...(cp.afterRestart ? rateRows(cp.afterRestart, 'the restarted plugin alone, from the moment it serves', 'just after the restart') : []),
    ...(cp.atRate ? rateRows(cp.atRate, 'both hosts', '') : []),
    ...(cp.removal ? removalRows(cp.removal, cp.concurrency, need) : []),
  ];
}

/** Rows of the removal run. */
function removalRows(r: RemovalFigures, concurrency: number, need: (name: string, v: number) => number): string[][] {
  const how = `removal, all at once, ${concurrency} calls in flight per host`;
  return [
    [`endpoints removed per second (Leave, DeleteEndpoint, ReleaseAddress), ${r.endpoints} endpoints`, need('controlPlane.removal.removalsPerSecond', r.removalsPerSecond).toFixed(0)],
    ...latencyRows(r.latency, `, ${how}`),
    [`no host has an FDB entry of them left, after the last removal returned`, ms(need('controlPlane.removal.fdbGone', r.fdbGoneMsAfterLastRemoval))],
    ...phaseCountRows(r, how),
  ];
}

/**
 * The all-at-once phase at several numbers of calls in flight per host (BENCH_IN_FLIGHT_CURVE) as
 * a table, one row each, with whether the all-at-once targets (>= 500 allocations a second, the
 * slowest call's p99 <= 50 ms) hold together there; '' when not measured. Informational: the
 * targets are held to the phase at CONCURRENCY.
 */
export function inFlightCurveSection(cp: ControlPlaneFigures): string {
  const curve = cp.inFlightCurve ?? [];
  if (curve.length === 0) return '';
  const methods = [...new Set(curve.flatMap((c) => Object.keys(c.latency)))];
  const short = (m: string) => m.slice(m.indexOf('.') + 1);
  const rows = curve.map((c) => {
    const p99 = slowestP99(c.latency);
    const both = c.allocationsPerSecond >= ALLOCATIONS_PER_SECOND_TARGET && p99 <= API_P99_TARGET_MS;
    return [
      String(c.concurrency),
      c.allocationsPerSecond.toFixed(0),
      endpointsReadyPerSecond(c, cp.endpoints).toFixed(0),
      ...methods.map((m) => (c.latency[m] ? `${ms(c.latency[m].p50)} / ${ms(c.latency[m].p99)}` : 'n/a')),
      c.cpuMsPerEndpoint?.machine === undefined ? 'n/a' : `${c.cpuMsPerEndpoint.machine.toFixed(2)} ms`,
      both ? 'both' : 'not both',
    ];
  });
  const head = ['calls in flight per host', 'allocations a second', 'endpoints ready a second', ...methods.map((m) => `${short(m)} p50 / p99`), 'CPU per endpoint, whole machine', `>= ${ALLOCATIONS_PER_SECOND_TARGET}/s and slowest p99 <= ${API_P99_TARGET_MS} ms`];
  return `**Calls in flight and the tail** (bench/control-plane.ts, BENCH_IN_FLIGHT_CURVE): ${cp.endpoints} endpoints all at once again for each number of calls in flight per host, in this order, after every other phase (the plugins warm), each on a network of its own; informational, the targets are held to the phase at ${cp.concurrency}\n\n${markdownTable(head, rows)}`;
}

/**
 * What the CPUs spent per endpoint, what etcd's disk (every write waits for its WAL fsync) and
 * each plugin (its Joins, with a spare interface or not, and reconcile passes) did during a
 * phase, and where the scheduler had the main threads, when measured.
 */
const phaseCountRows = (c: PhaseCounts, how: string): string[][] => [
  ...(c.cpuMsPerEndpoint ? [[`CPU per endpoint: each plugin / etcd / load generator, ${how}`, cpuPerEndpointText(c.cpuMsPerEndpoint)]] : []),
  ...(c.etcdDisk ? [[`etcd's disk, ${how}`, etcdDiskText(c.etcdDisk)]] : []),
  ...(c.pluginCounts ? [[`each plugin's own counts, ${how}`, c.pluginCounts.map((p, i) => `host ${i + 1}: ${pluginCountersText(p)}`).join('; ')]] : []),
  ...(c.cpuWait ? [[`share of the phase each plugin's main thread and the load generator spent on a CPU and runnable but waiting for one, ${how}`, phaseCpuWaitText(c.cpuWait)]] : []),
];

/** "host 1: on a CPU 38 %, waiting for one 61 %; host 2: ...; load generator: ...". */
export const phaseCpuWaitText = (w: PhaseCpuWait): string =>
  [...w.plugins.map((p, i) => `host ${i + 1}: ${cpuWaitText(p)}`), `load generator: ${cpuWaitText(w.loadGenerator)}`].join('; ');

/** A phase on a schedule as rows: what was offered and achieved, then each call's latency. */
function rateRows(r: RateFigures, who: string, when: string): string[][] {
  const at = `at ${r.endpointsPerSecond}/s${when ? `, ${when}` : ''}`;
  return [
    [`at ${r.endpointsPerSecond} endpoints/s offered to ${who} (${r.endpoints} endpoints started on a schedule, open loop): achieved`, `${r.achievedPerSecond.toFixed(0)}/s (sent up to ${ms(r.lateMsP99)} late, p99)`],
    ...latencyRows(r.latency, ` ${at}`),
    ...(r.newConnections && r.newConnections.calls > 0
      ? [[`of those, the calls that opened a connection of their own (every open one busy): how many, p50 / p99 (the connect alone, p99; of fewer than 100 calls, the p99 is the slowest) ${at}`, `${r.newConnections.calls}, ${ms(r.newConnections.p50)} / ${ms(r.newConnections.p99)} (${ms(r.newConnections.connectP99)})`]]
      : []),
    ...(r.overP99
      ? [[`the calls slower than the p99 of all calls: how many, and how many of them opened a connection of their own ${at}`, `${r.overP99.calls} over ${ms(r.overP99.ms)}, ${r.overP99.openedConnection} of them`]]
      : []),
    ...phaseCountRows(r, at),
  ];
}

export function buildReport(c: CompareFigures, cp: ControlPlaneFigures | undefined, names?: NamesFigures, enc?: EncryptionFigures, many?: ManyNetworksFigures): Report {
  const missing: string[] = [];
  const need = (name: string, v: number | undefined): number => {
    if (v === undefined || !Number.isFinite(v)) missing.push(name);
    return v ?? NaN;
  };
  const tput = (mtu: 'default' | 'jumbo', id: string) => need(`throughput.${mtu}.${id}`, c.throughput[mtu][id]?.gbps);
  const ratios: Record<string, number> = {};
  const sections: string[] = [];

  // Throughput, both underlays.
  for (const mtu of ['default', 'jumbo'] as const) {
    const ts = tput(mtu, 'tsOverlay');
    const rows = Object.entries(c.throughput[mtu]).map(([id, t]) => {
      const r = ts / tput(mtu, id);
      ratios[`throughput.${mtu}.tsOverlay/${id}`] = r;
      return [c.paths[id] ?? id, String(t.mtu), gbit(t.gbps), id === 'tsOverlay' ? '' : x(r)];
    });
    const underlay = mtu === 'default' ? '1500-byte' : `${c.settings.jumboUnderlayMtu}-byte`;
    sections.push(`**Throughput, ${underlay} underlay** (iperf3 TCP, ${c.settings.repeats} x ${c.settings.iperfSeconds} s, median; host 1 to host 2)\n\n${markdownTable(['path', 'MTU', 'throughput', 'ts-overlay / this'], rows)}`);
  }
  ratios['throughput.jumboGain.tsOverlay'] = tput('jumbo', 'tsOverlay') / tput('default', 'tsOverlay');

  // Informational, not targets: how the data path's shape alone changes throughput, from the
  // hand-made paths. ts-overlay's containers hang off the VXLAN device as macvlans (its shape;
  // the targets' reference is that shape in namespaces holding a container's rules, and one row
  // shows what those rules cost); Docker's overlays put a bridge and the VXLAN device in a
  // namespace per network; a bridge in the host's namespace (ts-overlay's earlier shape) hands
  // every frame it forwards to the engine's iptables (br_netfilter).
  const shapeRows = ([
    ['ts-overlay / hand-made bridge in a network namespace (the overlays\' shape)', 'tsOverlay', 'kernelVxlanNetns'],
    ['hand-made macvlan / hand-made bridge in a network namespace', 'kernelMacvlan', 'kernelVxlanNetns'],
    ['hand-made macvlan, namespaces with a container\'s iptables rules / without', 'kernelMacvlanRules', 'kernelMacvlan'],
    ['hand-made bridge in a network namespace / in the host namespace', 'kernelVxlanNetns', 'kernelVxlan'],
  ] as const).map(([what, a, b]) => [what, ...(['default', 'jumbo'] as const).map((mtu) => {
    const v = tput(mtu, a) / tput(mtu, b);
    ratios[`throughput.${mtu}.${a}/${b}`] = v;
    return x(v);
  })]);
  sections.push(`**What the data path's shape is worth** (hand-made paths and ts-overlay, from the throughput tables above; informational, no target)\n\n${markdownTable(['ratio', '1500-byte underlay', `${c.settings.jumboUnderlayMtu}-byte underlay`], shapeRows)}`);

  const latRows = Object.entries(c.latency).map(([id, l]) => [c.paths[id] ?? id, rtt(need(`latency.${id}.median`, l.medianMs)), rtt(need(`latency.${id}.p99`, l.p99Ms)), `${l.answers}/${l.sent}`]);
  sections.push(`**Latency, 1500-byte underlay** (ping every 10 ms, ${c.settings.pings} pings)\n\n${markdownTable(['path', 'RTT median', 'RTT p99', 'answers'], latRows)}`);

  const runRows: string[][] = [];
  for (const [key, name] of OVERLAYS) {
    const o = c.dockerRun[key];
    const b = c.dockerRun[`bridge_${key}`];
    const r = need(`dockerRun.${key}.median`, o?.medianMs) / need(`dockerRun.bridge_${key}.median`, b?.medianMs);
    ratios[`dockerRun.${key}/bridge`] = r;
    runRows.push([name, ms(o?.medianMs ?? NaN), ms(o?.p95Ms ?? NaN), ms(b?.medianMs ?? NaN), ms(b?.p95Ms ?? NaN), x(r)]);
  }
  sections.push(`**\`docker run -d\`** (${c.settings.runs} each, interleaved with the bridge driver on the same engines)\n\n${markdownTable(['overlay', 'median', 'p95', 'bridge median', 'bridge p95', 'overlay / bridge'], runRows)}`);

  const convRows = OVERLAYS.map(([key, name]) => {
    const v = c.convergence[key];
    need(`convergence.${key}.median`, v?.medianMs);
    need(`convergence.${key}.p95`, v?.p95Ms);
    return [name, ms(v?.medianMs ?? NaN), ms(v?.p95Ms ?? NaN), `${v?.samples.length ?? 0} (${v?.missed ?? 0} without an answer in 10 s)`];
  });
  ratios['convergence.p95.classic/tsOverlay'] = (c.convergence.classic?.p95Ms ?? NaN) / (c.convergence.tsOverlay?.p95Ms ?? NaN);
  ratios['convergence.p95.swarm/tsOverlay'] = (c.convergence.swarm?.p95Ms ?? NaN) / (c.convergence.tsOverlay?.p95Ms ?? NaN);
  need('propagation.median', c.propagation.medianMs);
  sections.push(`**Convergence**: \`docker run -d\` returns on host 2 -> first ping answer on host 1 (pinging every 10 ms from before the run; negative: reachable before the run returned)\n\n${markdownTable(['overlay', 'median', 'p95', 'samples'], convRows)}\n\nts-overlay network propagation (\`docker network create\` returns on host 1 -> listed on host 2, polled every 5 ms, ${c.propagation.samples.length} samples): median ${ms(c.propagation.medianMs)}, max ${ms(c.propagation.maxMs)}.`);

  let apiP99 = NaN;
  let apiP99AtRate = NaN;
  let apiP99AsEngine = NaN;
  let rssMax = NaN;
  if (cp) {
    apiP99 = slowestP99(cp.latency);
    if (cp.atRate) apiP99AtRate = slowestP99(cp.atRate.latency);
    if (cp.asEngine) apiP99AsEngine = slowestP99(cp.asEngine.latency);
    rssMax = Math.max(...cp.pluginRssMiB);
    const rows = controlPlaneRows(cp, need);
    need('controlPlane.apiP99', apiP99);
    need('controlPlane.rss', rssMax);
    for (const point of cp.inFlightCurve ?? []) {
      need(`controlPlane.inFlightCurve.${point.concurrency}.allocationsPerSecond`, point.allocationsPerSecond);
      need(`controlPlane.inFlightCurve.${point.concurrency}.apiP99`, slowestP99(point.latency));
    }
    const curve = inFlightCurveSection(cp);
    sections.push(`**Control plane**, ${cp.endpoints} endpoints on one network across 2 hosts, ${cp.concurrency} started at once per host, through the plugin API: all at once, and with the calls as an engine sends them (one RequestAddress + CreateEndpoint at a time per host and network, the engine's network lock; Joins overlapping)${cp.settleMs ? `, each phase started ${cp.settleMs / 1000} s after its network was made${cp.afterRestart ? ' (but the restarted plugin\'s, from the moment it served)' : ''}` : ''} (bench/control-plane.ts, run ${cp.date})\n\n${markdownTable(['what', 'value'], rows)}`);
    if (curve) sections.push(curve);
  } else {
    missing.push('controlPlane');
    sections.push('**Control plane**: not run (no bench/results/control-plane.json).');
  }

  if (names) {
    const rows = [
      [`appear: \`docker run -d\` returns on host 1 -> the name resolves in a container on host 2 (${names.appear.samples} samples)`, ms(need('names.appear.median', names.appear.median)), ms(need('names.appear.p95', names.appear.p95))],
      [`vanish: \`docker rm -f\` returns on host 1 -> the name no longer resolves on host 2 (${names.vanish.samples} samples)`, ms(need('names.vanish.median', names.vanish.median)), ms(need('names.vanish.p95', names.vanish.p95))],
    ];
    sections.push(`**Names across hosts** (bench/names.ts, ${names.runs} containers; asked through the engine's resolver every 5 ms; negative: before the command returned)\n\n${markdownTable(['what', 'median', 'p95'], rows)}`);
  } else {
    missing.push('names');
    sections.push('**Names across hosts**: not run (no names.json).');
  }
  if (enc) {
    ratios['throughput.encrypted/plain'] = need('encryption.ratio', enc.ratio);
    const rows = [
      ['plain ts-overlay network', `${enc.plainGbitPerSecond.toFixed(2)} Gbit/s`],
      ['`-o encrypted=true` network', `${enc.encryptedGbitPerSecond.toFixed(3)} Gbit/s`],
      ['encrypted / plain', `${(enc.ratio * 100).toFixed(1)} %`],
    ];
    sections.push(`**Cost of \`-o encrypted=true\`** (bench/encryption.ts: iperf3 container to container across hosts, ${enc.runs} x ${enc.secondsPerRun} s per network, interleaved; the tunnel is a userspace process, the kernel here has no ESP)\n\n${markdownTable(['network', 'median'], rows)}`);
  } else {
    missing.push('encryption');
    sections.push('**Cost of `-o encrypted=true`**: not run (no encryption.json).');
  }
  const m = many?.medians.at(-1);
  if (many && m) {
    const cpu = (v: number) => (Number.isFinite(v) ? `${v.toFixed(0)} ms of CPU (${(v / many.networks).toFixed(1)} ms per network)` : 'n/a');
    const rows = [
      ['one network made on both hosts (the calls of `docker network create` and of its copy on the other host), median', ms(need('manyNetworks.createMs', m.createMs))],
      ["a periodic reconcile pass: host 1's plugin with the `ip` and `iptables` processes it ran", cpu(need('manyNetworks.pluginCpuMsPerPass', m.pluginCpuMsPerPass))],
      ['a periodic reconcile pass: the whole machine (both plugins passing, etcd, the tools)', cpu(need('manyNetworks.machineCpuMsPerPass', m.machineCpuMsPerPass))],
      ["host 1's plugin killed and started again: until it serves (its first pass done)", ms(need('manyNetworks.restartMs', m.restartMs))],
    ];
    sections.push(`**Many networks on a host** (bench/many-networks.ts: ${many.networks} networks on each of 2 hosts through the plugin API, no endpoints, nothing else going on; a pass every ${many.reconcileIntervalSeconds} s while measured, every 30 s by default)\n\n${markdownTable(['what', 'figure'], rows)}`);
  } else {
    missing.push('manyNetworks');
    sections.push('**Many networks on a host**: not run (no many-networks.json).');
  }

  const t = (what: string, target: string, figure: number, met: (v: number) => boolean, value: string): Target => ({ what, target, figure, value, met: Number.isFinite(figure) && met(figure) });
  const r = ratios;
  const targets: Target[] = [
    // The reference's namespaces hold the rules the engine puts in every container's: they are
    // not the driver's to leave out (docs/performance-targets.md, "Throughput and the container's
    // namespace").
    t(`throughput / hand-made kernel VXLAN of the same shape (${SAME_SHAPE}), 1500 underlay`, '>= 0.95x', r['throughput.default.tsOverlay/kernelMacvlanRules']!, (v) => v >= 0.95, x(r['throughput.default.tsOverlay/kernelMacvlanRules']!)),
    t(`throughput / hand-made kernel VXLAN of the same shape (${SAME_SHAPE}), ${c.settings.jumboUnderlayMtu} underlay`, '>= 0.95x', r['throughput.jumbo.tsOverlay/kernelMacvlanRules']!, (v) => v >= 0.95, x(r['throughput.jumbo.tsOverlay/kernelMacvlanRules']!)),
    t('throughput / classic overlay, 1500 underlay', '>= 1.0x', r['throughput.default.tsOverlay/classic']!, (v) => v >= 1, x(r['throughput.default.tsOverlay/classic']!)),
    t('throughput / swarm overlay, 1500 underlay', '>= 1.0x', r['throughput.default.tsOverlay/swarm']!, (v) => v >= 1, x(r['throughput.default.tsOverlay/swarm']!)),
    t(`throughput / classic overlay with mtu=9000, ${c.settings.jumboUnderlayMtu} underlay`, '>= 1.0x', r['throughput.jumbo.tsOverlay/classicTuned']!, (v) => v >= 1, x(r['throughput.jumbo.tsOverlay/classicTuned']!)),
    t(`throughput / swarm overlay with mtu=9000, ${c.settings.jumboUnderlayMtu} underlay`, '>= 1.0x', r['throughput.jumbo.tsOverlay/swarmTuned']!, (v) => v >= 1, x(r['throughput.jumbo.tsOverlay/swarmTuned']!)),
    t('`docker run -d` / bridge (medians)', '<= 1.2x', r['dockerRun.tsOverlay/bridge']!, (v) => v <= 1.2, x(r['dockerRun.tsOverlay/bridge']!)),
    t('convergence p95', '<= 50 ms', c.convergence.tsOverlay?.p95Ms ?? NaN, (v) => v <= 50, ms(c.convergence.tsOverlay?.p95Ms ?? NaN)),
    t('allocations per second, calls as an engine sends them', `>= ${ALLOCATIONS_PER_SECOND_TARGET}`, cp?.asEngine?.allocationsPerSecond ?? NaN, (v) => v >= ALLOCATIONS_PER_SECOND_TARGET, cp?.asEngine ? cp.asEngine.allocationsPerSecond.toFixed(0) : 'n/a'),
    t('API p99 (slowest call), calls as an engine sends them', `<= ${API_P99_TARGET_MS} ms`, apiP99AsEngine, (v) => v <= API_P99_TARGET_MS, ms(apiP99AsEngine)),
    t(`allocations per second, all at once (${cp?.concurrency ?? 32} calls in flight per host)`, `>= ${ALLOCATIONS_PER_SECOND_TARGET}`, cp?.allocationsPerSecond ?? NaN, (v) => v >= ALLOCATIONS_PER_SECOND_TARGET, cp ? cp.allocationsPerSecond.toFixed(0) : 'n/a'),
    t(`API p99 (slowest call), all at once (${cp?.concurrency ?? 32} calls in flight per host)`, `<= ${API_P99_TARGET_MS} ms`, apiP99, (v) => v <= API_P99_TARGET_MS, ms(apiP99)),
    t(`API p99 (slowest call) at ${cp?.atRate?.endpointsPerSecond ?? 500} endpoints/s offered`, `<= ${API_P99_TARGET_MS} ms`, apiP99AtRate, (v) => v <= API_P99_TARGET_MS, ms(apiP99AtRate)),
    t('all FDB entries on every host after the last create (all at once)', '<= 2000 ms', cp?.fdbCompleteMsAfterLastCreate ?? NaN, (v) => v <= 2000, ms(cp?.fdbCompleteMsAfterLastCreate ?? NaN)),
    t('plugin RSS (largest host)', '<= 150 MB', rssMax, (v) => v <= RSS_LIMIT_MIB, Number.isFinite(rssMax) ? `${rssMax.toFixed(0)} MiB (${((rssMax * 2 ** 20) / 1e6).toFixed(0)} MB)` : 'n/a'),
    t(`restart reconcile of ${cp?.restart.endpoints ?? 500} endpoints`, '<= 2000 ms', cp?.restart.msUntilServing ?? NaN, (v) => v <= 2000, ms(cp?.restart.msUntilServing ?? NaN)),
    t('a name resolves on another host after `docker run -d` (p95)', '<= 200 ms', names?.appear.p95 ?? NaN, (v) => v <= 200, ms(names?.appear.p95 ?? NaN)),
    t('a name stops resolving after `docker rm -f` (p95)', '<= 200 ms', names?.vanish.p95 ?? NaN, (v) => v <= 200, ms(names?.vanish.p95 ?? NaN)),
  ];
  for (const target of targets) if (!Number.isFinite(target.figure)) missing.push(`target: ${target.what}`);
  sections.unshift(`**Targets**\n\n${markdownTable(['target', 'wanted', 'this run', ''], targets.map((tt) => [tt.what, tt.target, tt.value, tt.met ? 'met' : 'MISSED']))}`);

  const ofKernel = (mtu: 'default' | 'jumbo', id: string) => tput(mtu, id) / tput(mtu, 'kernelMacvlanRules');
  const chart: ChartGroup[] = [
    {
      title: 'Throughput / hand-made kernel VXLAN of ts-overlay\'s shape, with a container\'s iptables rules (1.0 = the data-plane limit for a container; higher is better)',
      unit: 'x', reference: 1, target: 0.95,
      bars: [
        { label: 'ts-overlay, 1500 underlay', value: ofKernel('default', 'tsOverlay'), highlight: true },
        { label: 'hand-made, no container rules, 1500 underlay', value: ofKernel('default', 'kernelMacvlan') },
        { label: 'hand-made bridge, own namespace, 1500 underlay', value: ofKernel('default', 'kernelVxlanNetns') },
        { label: 'classic overlay, 1500 underlay', value: ofKernel('default', 'classic') },
        { label: 'swarm overlay, 1500 underlay', value: ofKernel('default', 'swarm') },
        { label: 'ts-overlay, 9000 underlay (auto MTU)', value: ofKernel('jumbo', 'tsOverlay'), highlight: true },
        { label: 'hand-made, no container rules, 9000 underlay', value: ofKernel('jumbo', 'kernelMacvlan') },
        { label: 'hand-made bridge, own namespace, 9000 underlay', value: ofKernel('jumbo', 'kernelVxlanNetns') },
        { label: 'classic, 9000 underlay, default MTU', value: ofKernel('jumbo', 'classic') },
        { label: 'classic, 9000 underlay, mtu=9000', value: ofKernel('jumbo', 'classicTuned') },
        { label: 'swarm, 9000 underlay, default MTU', value: ofKernel('jumbo', 'swarm') },
        { label: 'swarm, 9000 underlay, mtu=9000', value: ofKernel('jumbo', 'swarmTuned') },
      ],
    },
    {
      title: 'docker run -d / bridge driver, medians (lower is better)',
      unit: 'x', reference: 1, target: 1.2,
      bars: OVERLAYS.map(([key, name]) => ({ label: name, value: r[`dockerRun.${key}/bridge`]!, highlight: key === 'tsOverlay' })),
    },
    {
      title: 'Convergence p95, ms (target 50 ms; negative: reachable before docker run returned)',
      unit: ' ms', target: 50,
      bars: OVERLAYS.map(([key, name]) => ({ label: name, value: c.convergence[key]?.p95Ms ?? NaN, highlight: key === 'tsOverlay' })),
    },
  ];

  return { date: c.date, machine: c.machine, smoke: c.smoke, only: c.settings.only, markdownTables: sections.join('\n\n'), targets, ratios, chart, missing, problems: c.problems ?? [] };
}

/**
 * The command a report names when BENCH_COMMAND does not say: `npm run bench`, or, for a
 * compare.json of a BENCH_ONLY run, the compare.ts run that made it.
 */
export function benchCommand(compare: CompareFigures, given: string | undefined): string {
  if (given) return given;
  const { only, repeats } = compare.settings;
  return only ? `BENCH_ONLY=${only} BENCH_REPEATS=${repeats} npx tsx bench/compare.ts` : 'npm run bench';
}

export function reportMarkdown(rep: Report, command: string): string {
  const m = rep.machine;
  return [
    `# ts-overlay benchmark${rep.smoke ? ' (SMOKE RUN: tiny counts, figures mean nothing)' : ''}${rep.only ? ` (BENCH_ONLY=${rep.only}: the other figures were not measured)` : ''}`,
    '',
    `Run ${rep.date} with \`${command}\` on ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, Linux ${m.kernel}, Docker Engine ${m.docker}${m.loadAverage1m ? `, load average ${m.loadAverage1m.start.toFixed(1)} at the start and ${m.loadAverage1m.end.toFixed(1)} at the end (the machine is shared)` : ''}; two lab hosts`,
    'per system (network namespaces joined by a veth underlay on one machine), every system in the same run.',
    '',
    '![ratios](chart.svg)',
    '',
    rep.markdownTables,
    '',
    ...(rep.problems.length ? ['**What went wrong during the run** (compare.json `problems`)', '', ...rep.problems.map((p) => `- ${p}`), ''] : []),
  ].join('\n');
}
