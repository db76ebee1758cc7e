/** Summarises bench/compare-revisions.sh: medians of each side's control-plane reports, and head/base. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { endpointsReadyPerSecond, type PhaseCpuWait, slowestP99 } from './report-model.js';
import type { PluginCounters } from './plugin-counters.js';
import { median } from './stats.js';

interface Report {
  endpoints: number;
  allocationsPerSecond: number;
  createSeconds: number;
  latency: Record<string, { p50: number; p99: number }>;
  fdbCompleteMsAfterLastCreate: number;
  pluginRssMiB: number[];
  cpuMsPerEndpoint?: { machine?: number };
  restart: { msUntilServing: number };
  /** Each plugin's own counts in the phase (absent in reports of harnesses from before them). */
  pluginCounts?: PluginCounters[];
  /** Where the scheduler had the plugins' main threads (absent in reports of harnesses from before it). */
  cpuWait?: PhaseCpuWait;
  /** The restarted plugin under load at once (absent in reports of builds from before it). */
  afterRestart?: { latency: Record<string, { p99: number }> };
  /** The open-loop phase (absent in reports of builds from before it). */
  atRate?: { endpointsPerSecond: number; latency: Record<string, { p99: number }>; cpuMsPerEndpoint?: { machine?: number }; cpuWait?: PhaseCpuWait };
  /** The calls as an engine sends them (absent in reports of builds from before it). */
  asEngine?: { allocationsPerSecond: number; createSeconds: number; endpointMs?: { p99: number }; latency: Record<string, { p99: number }>; cpuMsPerEndpoint?: { machine?: number }; pluginCounts?: PluginCounters[]; cpuWait?: PhaseCpuWait };
  /** The endpoints removed at the end (absent in reports of harnesses from before it). */
  removal?: { removalsPerSecond: number; latency: Record<string, { p99: number }>; fdbGoneMsAfterLastRemoval: number; cpuMsPerEndpoint?: { machine?: number; plugins?: number[] }; pluginCounts?: PluginCounters[] };
  /** The curve of calls in flight (only when the comparison sets BENCH_IN_FLIGHT_CURVE). */
  inFlightCurve?: Array<{ concurrency: number; allocationsPerSecond: number; latency: Record<string, { p99: number }> }>;
}

/** Of all hosts' Joins in a phase, the share given a spare interface, in %. */
const spareShare = (counts: PluginCounters[] | undefined) =>
  counts ? (100 * counts.reduce((n, c) => n + c.spares, 0)) / counts.reduce((n, c) => n + c.joins, 0) : NaN;

/** Of all hosts, a count of a phase's (NaN from a build that does not count it). */
const summed = (counts: PluginCounters[] | undefined, pick: (c: PluginCounters) => number | undefined) =>
  counts ? counts.reduce((n, c) => n + (pick(c) ?? NaN), 0) : NaN;

/** Of a phase, the plugins' main threads' mean share of it runnable but waiting for a CPU, in %. */
const waitingShare = (w: PhaseCpuWait | undefined) => (w ? (100 * w.plugins.reduce((n, p) => n + p.waiting, 0)) / w.plugins.length : NaN);

const [base, dir] = process.argv.slice(2) as [string, string];
const load = (side: string) =>
  readdirSync(dir).filter((f) => f.startsWith(`${side}-`) && f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Report);
const sides = { base: load('base'), head: load('head') };

const figures: Array<[string, (r: Report) => number, string]> = [
  ['allocations per second', (r) => r.allocationsPerSecond, '/s'],
  ['endpoints ready per second (Join answered)', (r) => endpointsReadyPerSecond(r, r.endpoints), '/s'],
  ['RequestAddress p99', (r) => r.latency['IpamDriver.RequestAddress']?.p99 ?? NaN, 'ms'],
  ['CreateEndpoint p99', (r) => r.latency['NetworkDriver.CreateEndpoint']?.p99 ?? NaN, 'ms'],
  ['Join p99', (r) => r.latency['NetworkDriver.Join']?.p99 ?? NaN, 'ms'],
  ['Joins given a spare interface', (r) => spareShare(r.pluginCounts), '%'],
  ['etcd transactions over 50 ms, asked for -> answered (all hosts)', (r) => summed(r.pluginCounts, (c) => c.txnsOver50ms), ''],
  ['etcd commits over 50 ms (all hosts)', (r) => summed(r.pluginCounts, (c) => c.commitsOver50ms), ''],
  ["plugins' main threads waiting for a CPU (mean of hosts), share of the phase", (r) => waitingShare(r.cpuWait), '%'],
  ['FDB complete after last create', (r) => r.fdbCompleteMsAfterLastCreate, 'ms'],
  ['CPU per endpoint, whole machine', (r) => r.cpuMsPerEndpoint?.machine ?? NaN, 'ms'],
  ['plugin RSS (larger host)', (r) => Math.max(...r.pluginRssMiB), 'MiB'],
  ['restart until serving', (r) => r.restart.msUntilServing, 'ms'],
  ['p99 of the slowest call of the restarted plugin, at its share of the offered rate', (r) => (r.afterRestart ? slowestP99(r.afterRestart.latency) : NaN), 'ms'],
  ['p99 of the slowest call at the offered rate', (r) => (r.atRate ? slowestP99(r.atRate.latency) : NaN), 'ms'],
  ['CPU per endpoint, whole machine, at the offered rate', (r) => r.atRate?.cpuMsPerEndpoint?.machine ?? NaN, 'ms'],
  ["plugins' main threads waiting for a CPU, at the offered rate", (r) => waitingShare(r.atRate?.cpuWait), '%'],
  ['allocations per second, calls as an engine sends them', (r) => r.asEngine?.allocationsPerSecond ?? NaN, '/s'],
  ['endpoints ready per second (Join answered), calls as an engine sends them', (r) => (r.asEngine ? endpointsReadyPerSecond(r.asEngine, r.endpoints) : NaN), '/s'],
  ['p99 of the slowest call, calls as an engine sends them', (r) => (r.asEngine ? slowestP99(r.asEngine.latency) : NaN), 'ms'],
  ['p99 of one endpoint, start to Join answered (lock wait included), calls as an engine sends them', (r) => r.asEngine?.endpointMs?.p99 ?? NaN, 'ms'],
  ['Joins given a spare interface, calls as an engine sends them', (r) => spareShare(r.asEngine?.pluginCounts), '%'],
  ['Joins over 50 ms inside the plugins, calls as an engine sends them', (r) => summed(r.asEngine?.pluginCounts, (c) => c.joinsOver50ms), ''],
  ['etcd transactions over 50 ms, calls as an engine sends them', (r) => summed(r.asEngine?.pluginCounts, (c) => c.txnsOver50ms), ''],
  ['etcd commits over 50 ms, calls as an engine sends them', (r) => summed(r.asEngine?.pluginCounts, (c) => c.commitsOver50ms), ''],
  ["plugins' main threads waiting for a CPU, calls as an engine sends them", (r) => waitingShare(r.asEngine?.cpuWait), '%'],
  ['CPU per endpoint, whole machine, calls as an engine sends them', (r) => r.asEngine?.cpuMsPerEndpoint?.machine ?? NaN, 'ms'],
  ['endpoints removed per second, all at once', (r) => r.removal?.removalsPerSecond ?? NaN, '/s'],
  ['p99 of the slowest call, removal', (r) => (r.removal ? slowestP99(r.removal.latency) : NaN), 'ms'],
  ['Leave p99, removal', (r) => r.removal?.latency['NetworkDriver.Leave']?.p99 ?? NaN, 'ms'],
  ['FDB entries gone from every host after the last removal', (r) => r.removal?.fdbGoneMsAfterLastRemoval ?? NaN, 'ms'],
  ['reconcile passes during the removal (all hosts)', (r) => summed(r.removal?.pluginCounts, (c) => c.reconciles), ''],
  ['CPU per endpoint, plugins (sum of hosts), removal', (r) => r.removal?.cpuMsPerEndpoint?.plugins?.reduce((a, b) => a + b, 0) ?? NaN, 'ms'],
  ['CPU per endpoint, whole machine, removal', (r) => r.removal?.cpuMsPerEndpoint?.machine ?? NaN, 'ms'],
];
// The curve of calls in flight, when the runs measured it: two rows per number of calls in flight.
const curvePoint = (r: Report, inFlight: number) => r.inFlightCurve?.find((p) => p.concurrency === inFlight);
for (const inFlight of new Set([...sides.base, ...sides.head].flatMap((r) => (r.inFlightCurve ?? []).map((p) => p.concurrency)))) {
  const at = `all at once again, ${inFlight} calls in flight per host (warm plugins)`;
  figures.push(
    [`allocations per second, ${at}`, (r) => curvePoint(r, inFlight)?.allocationsPerSecond ?? NaN, '/s'],
    [`p99 of the slowest call, ${at}`, (r) => { const p = curvePoint(r, inFlight); return p ? slowestP99(p.latency) : NaN; }, 'ms'],
  );
}
// Node flags given per side (compare-revisions.sh's BASE_NODE_ARGS / HEAD_NODE_ARGS) name the columns too.
const flags = (side: 'BASE' | 'HEAD') => {
  const args = process.env[`${side}_NODE_ARGS`] ?? process.env['BENCH_NODE_ARGS'];
  return args === undefined ? '' : ` (node ${args || 'without flags'})`;
};
/** Whole units, but small figures (CPU per endpoint) with two decimals. */
const figure = (v: number) => (Math.abs(v) < 10 ? v.toFixed(2) : v.toFixed(0));
console.log(`| control plane (median of ${sides.head.length} runs each, taken turn about) | ${base}${flags('BASE')} | this checkout${flags('HEAD')} | ratio |`);
console.log('|---|---|---|---|');
for (const [name, pick, unit] of figures) {
  const b = median(sides.base.map(pick));
  const h = median(sides.head.map(pick));
  console.log(`| ${name} | ${figure(b)} ${unit} | ${figure(h)} ${unit} | ${(h / b).toFixed(2)}x |`);
}
