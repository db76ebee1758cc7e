/**
 * Control plane at scale (issue 5, parts 5 and 6), driving the plugins' API directly as the
 * engines would, with no containers: one network on two hosts, N endpoints created at once
 * (half per host: RequestAddress, CreateEndpoint, Join, which makes the endpoint's macvlan), then:
 * allocations per second, API latency per call, time until every host has every FDB entry,
 * plugin RSS, etcd keys and bytes per endpoint; then SIGKILL of one plugin holding M
 * endpoints and the time until it has reconciled and serves again, then that plugin's latency
 * under load from the moment it serves (N/4 endpoints at BENCH_RATE/2 a second: its code runs
 * cold); then the API's latency at a given load (BENCH_RATE endpoints per second, open loop) on
 * a third network, both plugins warm; then N endpoints
 * again on a fourth network, their calls in the order an engine sends them (EngineNetworkLock);
 * then, if asked (BENCH_ALL_AT_ONCE_PASSES), the all-at-once phase again on plugins long warmed up;
 * then, if asked (BENCH_IN_FLIGHT_CURVE), the all-at-once phase at other numbers of calls in flight.
 * Each measured phase starts SETTLE_MS after its network was made (see there), and also reports
 * what etcd's disk did during it (bench/etcd-disk.ts: a slow WAL fsync stalls every write on
 * every host) and what each plugin counted (bench/plugin-counters.ts: Joins with a spare
 * interface or not, Joins over 50 ms by the plugin's own clock, reconcile passes).
 * Runs in its own lab (TSO_LAB, default cp; no engines used) and writes bench/results/control-plane.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ApiLab, cpuMs, machineBusyMs, mainThreadCpuMs, rssMiB } from './api-lab.js';
import { median, percentile } from './stats.js';
import { PluginApi, pool } from './plugin-api.js';
import { controlPlaneRows, inFlightCurveSection, markdownTable } from './report-model.js';
import { cpuWaitBetween, readSchedstat, type SchedReading } from './cpu-wait.js';
import { etcdDiskBetween, type EtcdCounters, parseEtcdMetrics } from './etcd-disk.js';
import { parsePluginMetrics, type PluginCounters, pluginCountersBetween } from './plugin-counters.js';
import { writeTimeline } from './timeline-windows.js';
import { type BenchNetwork, createEndpoints, createEndpointsAtRate, EngineNetworkLock, type MadeEndpoint } from './endpoint-phases.js';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 2000);
const RESTART_ENDPOINTS = Number(process.env.BENCH_RESTART_ENDPOINTS ?? 500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
/** The offered load of the latency phase: endpoints per second across both hosts, and how many. */
const RATE = Number(process.env.BENCH_RATE ?? 500);
const RATE_ENDPOINTS = Number(process.env.BENCH_RATE_ENDPOINTS ?? ENDPOINTS);
/**
 * Endpoints sent to the restarted plugin straight after it serves again, at its host's share of
 * RATE. A plugin that has just started runs its code cold (V8 interprets it, then compiles it
 * while it runs), so its first calls take longer; the phase at RATE used to come straight after
 * the restart and measured that too, at a different moment of the warm-up from run to run
 * (docs/performance-targets.md, "The tail at 500 a second"). This phase shows that cost on its
 * own, and leaves host 1's plugin warm for the phases after it. A quarter of N keeps the run
 * short (how many calls warming up takes was not measured). Like any plugin that has just
 * started, it also claims each address through etcd for its first 2 s (src/ipam/stripe.ts),
 * which falls in this phase too. 0: no such phase.
 */
const AFTER_RESTART_ENDPOINTS = Math.floor(Number(process.env.BENCH_AFTER_RESTART_ENDPOINTS ?? ENDPOINTS / 4));
/**
 * How many idle connections the client of the phase "as an engine sends them" keeps open per
 * plugin; a call that finds none opens one, and one given back beyond this is closed. An engine
 * keeps 2 (Go's HTTP client default; bench/engine-call-order.ts counts what a real engine
 * opens). Unset: every connection is kept.
 */
const ENGINE_KEEP_IDLE = Number(process.env.BENCH_ENGINE_KEEP_IDLE || Infinity);
if (!(ENGINE_KEEP_IDLE >= 1)) throw new Error(`BENCH_ENGINE_KEEP_IDLE must be a number of connections, 1 or more (got "${process.env.BENCH_ENGINE_KEEP_IDLE}")`);
/**
 * How long each measured phase waits after its network is made (and, for the phases after the
 * restart, after the restart), so that no phase measures what the step before it set off: a
 * plugin that has just started claims every address through etcd until its view of the live
 * nodes has held for 2 s (src/ipam/stripe.ts) and reads every peer entry back from the kernel;
 * a new network runs the firewall tools (iptables) on every host. (A pause does not warm a
 * restarted plugin's code: the phase after the restart does, see AFTER_RESTART_ENDPOINTS.)
 * BENCH_SETTLE_MS=0 measures straight after them (on this machine, within the runs' spread of
 * the figures with the pause: docs/benchmarks.md).
 */
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 3000);
/**
 * How many times the all-at-once phase runs: the first is the measured one, and each further
 * pass (BENCH_ALL_AT_ONCE_PASSES=3: two more) comes after every other phase, on a network of its
 * own, so the same load meets plugins that V8 has long since compiled: what warming up costs.
 */
const ALL_AT_ONCE_PASSES = Number(process.env.BENCH_ALL_AT_ONCE_PASSES ?? 1);
/**
 * BENCH_IN_FLIGHT_CURVE="32 16 8 4": after every other phase, the all-at-once phase once more for
 * each of these numbers of calls in flight per host, in that order, each on a network of its own.
 * Made as fast as answers come back, endpoints keep a fixed number of calls waiting, so a call's
 * latency is about that number over the calls answered a second (Little's law): the curve shows
 * how the tail grows with it, on the same warm plugins, where one figure at CONCURRENCY cannot.
 * Largest first, so the plugins' further warming up (V8 still compiles) favours no small number.
 */
const IN_FLIGHT_CURVE = (process.env.BENCH_IN_FLIGHT_CURVE ?? '').split(/[\s,]+/).filter(Boolean).map(Number);
if (IN_FLIGHT_CURVE.some((n) => !(Number.isInteger(n) && n >= 1))) throw new Error(`BENCH_IN_FLIGHT_CURVE must list numbers of calls in flight per host, 1 or more (got "${process.env.BENCH_IN_FLIGHT_CURVE}")`);
/** Its own lab (TSO_LAB, default cp); the plugin under test: this checkout's build, or another's (bench/compare-revisions.sh). */
const lab = new ApiLab(process.env.TSO_LAB ?? 'cp', process.env.BENCH_PLUGIN);
const REPO = resolve(import.meta.dirname, '..');
/** Where the JSON report goes. */
const REPORT = process.env.BENCH_REPORT ?? resolve(REPO, 'bench/results/control-plane.json');
/**
 * BENCH_TIMELINE=DIR: every call of each measured phase into DIR/PHASE.tsv (host, method, start
 * in ms from the phase's first call, latency, whether it opened a connection), to see when in a
 * phase its slowest calls came.
 */
const TIMELINE_DIR = process.env.BENCH_TIMELINE;

/**
 * Host h's unicast FDB entries on the VXLAN device of `vni`. A listing the kernel interrupted
 * (entries changed while it was read: "Dump was interrupted") may miss some, so it is read again.
 */
function remoteFdbEntries(h: number, vni: number): number {
  for (;;) {
    const res = spawnSync('ip', ['netns', 'exec', `${lab.name}-h${h}`, 'bridge', 'fdb', 'show', 'dev', `tsvx-${vni}`], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
    if (res.status !== 0) throw new Error(`bridge fdb show on host ${h}: ${res.stderr || res.error?.message}`);
    if (/Dump was interrupted/.test(res.stderr)) continue;
    return res.stdout.split('\n').filter((l) => l.includes(' dst ') && !l.startsWith('00:00:00:00:00:00')).length;
  }
}

/** The counts of a plugin process that has just started, as a baseline: its figures count from its start (its start-up reconcile pass among them). */
const FRESH_PLUGIN: PluginCounters = { joins: 0, spares: 0, joinsOver50ms: 0, reconciles: 0, txnsOver50ms: 0, commitsOver50ms: 0, gcPauseMs: 0, gcPausesOver10ms: 0 };

/**
 * What etcd and the plugins of `hosts` (1-based) have counted at the start of a phase, undefined
 * what could not be read; where the scheduler had the plugins' main threads (`pids`, one per
 * host) and this load generator's; and the CPU time spent so far.
 */
type PhaseCounters = { etcd?: EtcdCounters; hosts: number[]; plugins?: PluginCounters[]; pids: number[]; sched: SchedReading[]; loadSched: SchedReading; cpu: CpuReading };
/** CPU time so far (ms) of each plugin (`pids`) and etcd, each plugin's main thread, this load generator and the whole machine. */
type CpuReading = { processes: number[]; mainThreads: number[]; load: NodeJS.CpuUsage; machine: number };
const readCpu = (pids: readonly number[]): CpuReading => ({
  processes: [...pids, lab.etcdPid()].map(cpuMs),
  mainThreads: pids.map(mainThreadCpuMs),
  load: process.cpuUsage(),
  machine: machineBusyMs(),
});
/**
 * The CPU each plugin (and of it, its threads other than the main one: V8's compiler and GC
 * helpers), etcd, this load generator and the whole machine spent per endpoint of the phase.
 * The machine's total also holds what no process here accounts for: the ip/bridge processes
 * making interfaces and entries, the kernel's own work, anything else running.
 */
function cpuPerEndpoint(before: CpuReading, after: CpuReading, endpoints: number) {
  const per = (ms: number) => ms / endpoints;
  const processes = after.processes.map((v, i) => per(v - before.processes[i]!));
  const plugins = processes.slice(0, -1);
  return {
    plugins,
    pluginHelperThreads: plugins.map((c, i) => c - per(after.mainThreads[i]! - before.mainThreads[i]!)),
    etcd: processes.at(-1)!,
    loadGenerator: per((after.load.user - before.load.user + after.load.system - before.load.system) / 1000),
    machine: per(after.machine - before.machine),
  };
}
/** A reading that fails leaves its figures out of the report (with a word on stderr), never the run. */
const orNothing = <T>(what: string, reading: Promise<T>): Promise<T | undefined> =>
  reading.catch((err: unknown) => {
    console.error(`could not read ${what}, its figures are left out: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  });
const readCounters = (hosts: readonly number[]) =>
  Promise.all([
    orNothing("etcd's metrics", lab.metrics(0).then(parseEtcdMetrics)),
    orNothing("the plugins' metrics", Promise.all(hosts.map(async (h) => parsePluginMetrics(await lab.metrics(h))))),
  ]);
/** `fresh`: the plugins have just started (no reading needed, nor a wait for their metrics server). */
async function phaseCounters(hosts: number[], pids: number[], fresh = false): Promise<PhaseCounters> {
  // The scheduler's and CPU readings mark the phase's start: after the metrics readings, which
  // start processes of their own, but at once for a plugin just started, whose phase begins now.
  const readSched = () => ({ sched: pids.map((pid) => readSchedstat(pid)), loadSched: readSchedstat(process.pid), cpu: readCpu(pids) });
  const early = fresh ? readSched() : undefined;
  const [etcd, plugins] = await readCounters(fresh ? [] : hosts);
  return { etcd, hosts, plugins: fresh ? hosts.map(() => FRESH_PLUGIN) : plugins, pids, ...(early ?? readSched()) };
}
/**
 * What they counted since: the CPU spent per endpoint (of `endpoints`), etcd's disk, each
 * plugin's Joins (with spares or not) and reconciles, and the shares of the phase the plugins'
 * main threads and this load generator spent on a CPU and waiting for one.
 */
async function countsSince(before: PhaseCounters, endpoints: number) {
  // Read first, before the metrics readings' processes.
  const cpuMsPerEndpoint = cpuPerEndpoint(before.cpu, readCpu(before.pids), endpoints);
  const cpuWait = { plugins: before.pids.map((pid, i) => cpuWaitBetween(before.sched[i]!, readSchedstat(pid))), loadGenerator: cpuWaitBetween(before.loadSched, readSchedstat(process.pid)) };
  const [etcd, plugins] = await readCounters(before.hosts);
  return {
    cpuMsPerEndpoint,
    ...(before.etcd && etcd ? { etcdDisk: etcdDiskBetween(before.etcd, etcd) } : {}),
    ...(before.plugins && plugins ? { pluginCounts: plugins.map((after, i) => pluginCountersBetween(before.plugins![i]!, after)) } : {}),
    cpuWait,
  };
}

const settle = () => new Promise((r) => setTimeout(r, SETTLE_MS));

/** What a phase on a schedule gives: the offered and achieved rates, and each call's latency. */
async function rateFigures(apis: PluginApi[], perSecond: number, count: number, run: { seconds: number; lateMsP99: number }, before: PhaseCounters) {
  const opened = apis.flatMap((a) => a.timeline.filter((c) => c.newConnection).map((c) => c.ms));
  const connects = apis.flatMap((a) => a.connectLatencies);
  // The slowest 1 % of all calls, and how many of them opened a connection.
  const all = apis.flatMap((a) => a.timeline.map((c) => c.ms));
  const tail = percentile(all, 99);
  return {
    endpointsPerSecond: perSecond,
    endpoints: count,
    achievedPerSecond: count / run.seconds,
    lateMsP99: run.lateMsP99,
    latency: latencyByMethod(apis),
    newConnections: { p50: median(opened), p99: percentile(opened, 99), calls: opened.length, connectP99: percentile(connects, 99) },
    overP99: { ms: tail, calls: all.filter((v) => v > tail).length, openedConnection: opened.filter((v) => v > tail).length },
    ...(await countsSince(before, count)),
  };
}

/**
 * N endpoints made at once on `net` (`inFlightPerHost` at a time): allocations per second, each
 * call's latency, the time until every host has every other host's FDB entries, and the CPU
 * each process (plugins, etcd, this load generator) and the whole machine spent per endpoint.
 */
async function measureCreation(apis: PluginApi[], net: BenchNetwork & { vni: number }, plugins: ReadonlyArray<{ pid: number }>, inFlightPerHost = CONCURRENCY) {
  apis.forEach((a) => a.resetFigures());
  // Where the CPU goes while the endpoints are made and every host programs them: each plugin,
  // etcd, and this load generator (all share the machine's cores): countsSince.
  const before = await phaseCounters([1, 2], plugins.map((p) => p.pid));
  const run = await createEndpoints(apis, net, ENDPOINTS, inFlightPerHost);
  const perHost = ENDPOINTS / 2;
  for (;;) {
    if (remoteFdbEntries(1, net.vni) >= perHost && remoteFdbEntries(2, net.vni) >= perHost) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const fdbCompleteMsAfterLastCreate = performance.now() - run.finished;
  const endpointMs = { p50: median(run.endpointMs), p99: percentile(run.endpointMs, 99) };
  return { createSeconds: run.seconds, allocationsPerSecond: run.allocationsPerSecond, endpointMs, latency: latencyByMethod(apis), fdbCompleteMsAfterLastCreate, ...(await countsSince(before, ENDPOINTS)) };
}

/**
 * The engine's three calls at a container's removal, for one endpoint: Leave, DeleteEndpoint,
 * ReleaseAddress. The benchmark never moved the interface into a container, so Leave finds it
 * in the host's namespace and deletes it; with an engine, which takes the interface out of the
 * container after Leave, DeleteEndpoint does.
 */
async function removeEndpoint(apis: PluginApi[], net: BenchNetwork, e: MadeEndpoint): Promise<void> {
  const api = apis[e.h]!;
  await api.call('NetworkDriver.Leave', { NetworkID: net.engineIds[e.h], EndpointID: e.endpointId });
  await api.call('NetworkDriver.DeleteEndpoint', { NetworkID: net.engineIds[e.h], EndpointID: e.endpointId });
  await api.call('IpamDriver.ReleaseAddress', { PoolID: net.poolId, Address: e.address });
}

/**
 * Every endpoint `net` made, removed at once (`inFlightPerHost` at a time): removals per
 * second, each call's latency, the time until no host has an FDB entry of the other's left,
 * and the CPU per endpoint, as measureCreation.
 */
async function measureRemoval(apis: PluginApi[], net: BenchNetwork & { vni: number }, plugins: ReadonlyArray<{ pid: number }>, inFlightPerHost = CONCURRENCY) {
  const made = net.made ?? [];
  apis.forEach((a) => a.resetFigures());
  const before = await phaseCounters([1, 2], plugins.map((p) => p.pid));
  const started = performance.now();
  await pool(made, inFlightPerHost * apis.length, (e) => removeEndpoint(apis, net, e));
  const finished = performance.now();
  while (remoteFdbEntries(1, net.vni) > 0 || remoteFdbEntries(2, net.vni) > 0) await new Promise((r) => setTimeout(r, 20));
  const fdbGoneMsAfterLastRemoval = performance.now() - finished;
  const removeSeconds = (finished - started) / 1000;
  return { endpoints: made.length, removeSeconds, removalsPerSecond: made.length / removeSeconds, latency: latencyByMethod(apis), fdbGoneMsAfterLastRemoval, ...(await countsSince(before, made.length)) };
}

/** Per API method, over every host's calls: median, p99 and how many. */
function latencyByMethod(apis: PluginApi[]) {
  const methods = new Set(apis.flatMap((a) => a.timeline.map((c) => c.method)));
  return Object.fromEntries([...methods].map((m) => {
    const all = apis.flatMap((a) => a.timeline.filter((c) => c.method === m).map((c) => c.ms));
    return [m, { p50: median(all), p99: percentile(all, 99), calls: all.length }];
  }));
}

/** The phase's calls to BENCH_TIMELINE's folder, if set (timeline-windows.ts). */
function saveTimeline(phase: string, apis: PluginApi[]): void {
  if (TIMELINE_DIR) writeTimeline(TIMELINE_DIR, phase, apis);
}

function etcdFootprint(endpoints: number) {
  const out = lab.etcdctl('get', '--prefix', '/ts-overlay/', '-w', 'json');
  const kvs = (JSON.parse(out) as { kvs?: Array<{ key: string; value: string }> }).kvs ?? [];
  const bytes = kvs.reduce((sum, kv) => sum + Buffer.from(kv.key, 'base64').length + Buffer.from(kv.value, 'base64').length, 0);
  return { keys: kvs.length, bytes, keysPerEndpoint: kvs.length / endpoints, bytesPerEndpoint: bytes / endpoints };
}

async function main() {
  lab.script('up', '--hosts', '2', '--no-plugin');
  const plugins = [lab.startPlugin(1), lab.startPlugin(2)];
  try {
    await Promise.all(plugins.map((p) => p.ready));
    const apis = lab.hostApis(CONCURRENCY);

    // Part 5: N endpoints on one network across two hosts, all at once.
    const net = await lab.createNetwork(apis, '10.128.0.0/20');
    await settle();
    const allAtOnce = await measureCreation(apis, net, plugins);
    saveTimeline('all-at-once', apis);
    const rss = plugins.map((p) => rssMiB(p.pid));
    const footprint = etcdFootprint(ENDPOINTS);

    // Part 6: a plugin with M endpoints killed and started again.
    const restartNet = await lab.createNetwork(apis, '10.129.0.0/21'); // the phase after the restart uses it too
    await createEndpoints([apis[0]!], { ...restartNet, engineIds: [restartNet.engineIds[0]!] }, RESTART_ENDPOINTS, CONCURRENCY);
    const restarted = await lab.restartPlugin(1, plugins[0]!.pid);
    plugins[0] = restarted;
    const restartMs = await restarted.ready; // it reconciles before it opens its socket

    // The restarted plugin under load at once, alone on its host (its share of RATE).
    let afterRestart;
    if (AFTER_RESTART_ENDPOINTS > 0) {
      const restartedApi = [new PluginApi(lab.socket(1), 256)];
      // Read beside the phase, not before it: the phase is to meet the plugin the moment it
      // serves. etcd's first reading lands a few tens of ms into the phase (a WAL fsync
      // before it is not counted); the plugin's count starts at nothing, as the process does.
      const before = phaseCounters([1], [restarted.pid], true);
      const run = await createEndpointsAtRate(restartedApi, { ...restartNet, engineIds: [restartNet.engineIds[0]!] }, AFTER_RESTART_ENDPOINTS, RATE / 2);
      afterRestart = await rateFigures(restartedApi, RATE / 2, AFTER_RESTART_ENDPOINTS, run, await before);
      saveTimeline('after-restart', restartedApi);
      restartedApi.forEach((a) => a.close());
    }

    // Latency at a given load: RATE endpoints per second offered on a network of their own.
    const rateApis = lab.hostApis(256);
    const rateNet = await lab.createNetwork(rateApis, '10.130.0.0/20');
    await settle();
    rateApis.forEach((a) => a.resetFigures()); // only the endpoints' calls
    const beforeRate = await phaseCounters([1, 2], plugins.map((p) => p.pid));
    const atRate = await rateFigures(rateApis, RATE, RATE_ENDPOINTS, await createEndpointsAtRate(rateApis, rateNet, RATE_ENDPOINTS, RATE), beforeRate);
    saveTimeline('at-rate', rateApis);
    rateApis.forEach((a) => a.close());

    // N endpoints again, on a network of their own, their calls as an engine sends them: on
    // each host one RequestAddress + CreateEndpoint at a time, Joins overlapping.
    const engineApis = lab.hostApis(CONCURRENCY, ENGINE_KEEP_IDLE);
    const engineNet = { ...(await lab.createNetwork(engineApis, '10.131.0.0/20')), engineLocks: [new EngineNetworkLock(), new EngineNetworkLock()], made: [] };
    await settle();
    const asEngine = await measureCreation(engineApis, engineNet, plugins); // host 1's is the restarted plugin now
    saveTimeline('as-engine', engineApis);
    engineApis.forEach((a) => a.close());
    // The larger of two readings per host: after the all-at-once run, and now, with every
    // network's endpoints on the hosts (host 1's plugin is the restarted one by then).
    const rssAtEnd = plugins.map((p) => rssMiB(p.pid));
    // The all-at-once phase again after every other phase, on a network of its own, `inFlight`
    // calls per host (new connections: host 1's plugin is not the one `apis` met).
    const allAtOnceAgainOn = async (subnet: string, inFlight: number, phase: string) => {
      const againApis = lab.hostApis(inFlight);
      const againNet = await lab.createNetwork(againApis, subnet);
      await settle();
      const figures = await measureCreation(againApis, againNet, plugins, inFlight);
      saveTimeline(phase, againApis);
      againApis.forEach((a) => a.close());
      return figures;
    };
    const allAtOnceAgain = [];
    for (let pass = 2; pass <= ALL_AT_ONCE_PASSES; pass++) allAtOnceAgain.push(await allAtOnceAgainOn(`10.${130 + pass}.0.0/20`, CONCURRENCY, `all-at-once-pass-${pass}`));
    const inFlightCurve = [];
    // 10.160 and up: clear of the passes' 10.132 and up.
    for (const [i, inFlight] of IN_FLIGHT_CURVE.entries()) inFlightCurve.push({ concurrency: inFlight, ...(await allAtOnceAgainOn(`10.${160 + i}.0.0/20`, inFlight, `in-flight-${inFlight}`)) });
    // Last, so that no phase above meets fewer interfaces than in runs from before it: the
    // endpoints made as an engine sends them, removed all at once.
    const removeApis = lab.hostApis(CONCURRENCY);
    const removal = await measureRemoval(removeApis, engineNet, plugins);
    saveTimeline('removal', removeApis);
    removeApis.forEach((a) => a.close());

    const report = {
      date: new Date().toISOString(),
      endpoints: ENDPOINTS,
      concurrency: CONCURRENCY,
      ...(Number.isFinite(ENGINE_KEEP_IDLE) ? { engineKeepIdle: ENGINE_KEEP_IDLE } : {}),
      settleMs: SETTLE_MS,
      ...allAtOnce,
      pluginRssMiB: rss.map((r, h) => Math.max(r, rssAtEnd[h]!)),
      etcd: footprint,
      restart: { endpoints: RESTART_ENDPOINTS + ENDPOINTS / 2, msUntilServing: restartMs },
      ...(afterRestart ? { afterRestart } : {}),
      atRate,
      asEngine,
      ...(allAtOnceAgain.length > 0 ? { allAtOnceAgain } : {}),
      ...(inFlightCurve.length > 0 ? { inFlightCurve } : {}),
      removal,
    };
    console.log(`control plane, ${ENDPOINTS} endpoints on one network across 2 hosts, ${CONCURRENCY} started at once per host, each phase ${SETTLE_MS / 1000} s after its network was made (but the restarted plugin's, from the moment it served; targets: bench/report.ts)\n`);
    console.log(markdownTable(['what', 'value'], controlPlaneRows(report)));
    const curve = inFlightCurveSection(report);
    if (curve) console.log(`\n${curve}`);
    mkdirSync(dirname(REPORT), { recursive: true });
    writeFileSync(REPORT, JSON.stringify(report, null, 2));
    apis.forEach((a) => a.close());
  } finally {
    await lab.tearDown(plugins);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
