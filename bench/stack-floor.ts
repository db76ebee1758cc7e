/**
 * How far ts-overlay's API tail is from the floor of its stack. Two phases of the control-plane
 * benchmark, 2,000 endpoints each: all at once (32 calls in flight per host, young processes),
 * then at 500 a second offered, open loop (clients starting with no connections). These servers
 * take them, turn about, each in a fresh lab, driven by the control-plane benchmark's load
 * generator:
 * - ts-overlay's plugins;
 * - `ts-overlay+flags`: the same with other flags, environment, node flags or another build
 *   (BENCH_FLAGS, BENCH_FLAGS_ENV, BENCH_FLAGS_NODE_ARGS, BENCH_FLAGS_PLUGIN below), to take a
 *   feature's or a change's share apart;
 * - `floor`: bench/stack-floor-server.ts, node, fastify and the plugin's own etcd layer doing
 *   only what every plugin on this stack must do (the endpoint and its address in one etcd
 *   transaction, the other host's records from a watch): no request checks, no kernel work,
 *   no metrics, no reconcile;
 * - `floor+kernel`: the same, with the kernel work of ts-overlay's data path done simply: a
 *   macvlan per endpoint through the plugin's own `ip` batch session, which Join waits for (the
 *   engine moves it into the container right after Join), and an FDB and a neighbour entry per
 *   other host's endpoint through `bridge`/`ip` batch processes, not waited for (no call waits
 *   for them in ts-overlay either). No spare interfaces made ahead, as ts-overlay makes.
 * - `floor+spares`: the floor+kernel with its macvlans made ahead: 32 kept ready from its
 *   start, one taken per endpoint and made again at once, so an endpoint waits for `ip` only
 *   when none is ready. Kinder than ts-overlay, whose spares come only once a burst has begun;
 * - `floor+lazy-spares`: the same with ts-overlay's policy for them (spare-ports.ts): one per 8
 *   endpoints of the last second, at most 32, deleted after 2 s without an endpoint.
 *
 *   TSO_LAB=cpf npx tsx bench/stack-floor.ts     # BENCH_ROUNDS (3), BENCH_CONCURRENCY (32),
 *                                                # BENCH_RATE (500), BENCH_ENDPOINTS (2000),
 *                                                # BENCH_SIDES (all but ts-overlay+flags),
 *                                                # BENCH_REPORT=FILE,
 *                                                # BENCH_PROFILE_DIR=DIR, BENCH_TIMELINE=DIR,
 *                                                # BENCH_FLAGS, BENCH_FLAGS_ENV, BENCH_FLAGS_NODE_ARGS,
 *                                                # BENCH_FLAGS_PLUGIN (below)
 *
 * Where the plain floor misses a target too, no plugin on this stack meets it on this machine
 * (as far as one run tells); the floor+kernel says what the data path's kernel work adds to it.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ApiLab, cpuMs, cpuWithToolsMs, envList, ETCD, machineBusyMs, mainThreadCpuMs, pluginNodeArgs } from './api-lab.js';
import { REPO, sleep } from './bench-lab.js';
import { type BenchNetwork, createEndpoints, createEndpointsAtRate } from './endpoint-phases.js';
import { PluginApi } from './plugin-api.js';
import { median, percentile, rotated } from './stats.js';
import { writeTimeline } from './timeline-windows.js';
import { SPARE_PORT_DEFAULTS } from '../src/dataplane/spare-ports.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
/** BENCH_SIDES: some of the servers only, e.g. "ts-overlay floor+spares". */
const CHOSEN = (process.env.BENCH_SIDES ?? '').split(/[\s,]+/).filter(Boolean);
const IN_FLIGHT = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 2000);
const RATE = Number(process.env.BENCH_RATE ?? 500);
/**
 * The side `ts-overlay+flags`: ts-overlay's plugins with more `serve` flags (BENCH_FLAGS, e.g.
 * "--dns false"), environment (BENCH_FLAGS_ENV, "VAR=value ..."), other node flags
 * (BENCH_FLAGS_NODE_ARGS, instead of the plugins' own) or another build (BENCH_FLAGS_PLUGIN, its
 * dist/main.js: a copy of an earlier build's dist/ and package.json in a folder of this
 * checkout, e.g. .base/, so that it finds node_modules), measured turn about with the plain
 * plugins to take a feature's, a setting's or a change's share apart.
 */
const FLAGS = (process.env.BENCH_FLAGS ?? '').split(' ').filter(Boolean);
const FLAGS_NODE_ARGS = pluginNodeArgs(process.env.BENCH_FLAGS_NODE_ARGS);
const FLAGS_ENV = envList(process.env.BENCH_FLAGS_ENV);
const FLAGS_PLUGIN = process.env.BENCH_FLAGS_PLUGIN ? resolve(process.env.BENCH_FLAGS_PLUGIN) : undefined;
const SETTLE_MS = 3000; // as the control-plane benchmark waits between a network and its phase
const lab = new ApiLab(process.env.TSO_LAB ?? 'cpf');

const SIDES = ['ts-overlay', 'ts-overlay+flags', 'floor', 'floor+kernel', 'floor+spares', 'floor+lazy-spares'] as const;
type Side = (typeof SIDES)[number];
const sides = SIDES.filter((s) => (CHOSEN.length === 0 ? s !== 'ts-overlay+flags' : CHOSEN.includes(s)));
if (sides.length === 0) throw new Error(`BENCH_SIDES: none of ${SIDES.join(', ')}`);
interface Cpu {
  own: number;
  main: number;
  tools: number;
}
interface Server {
  pid: number;
  /**
   * CPU time so far: the process's own, its main thread's (the rest of `own` is V8's compiler
   * and GC helpers and libuv's pool), and its `ip`/`bridge` processes' (none for the plain floor).
   */
  cpuMs(): Cpu;
}

/** The floor's mode argument by side (stack-floor-server.ts). */
type FloorSide = Exclude<Side, 'ts-overlay' | 'ts-overlay+flags'>;
const FLOOR_MODES: Record<FloorSide, string[]> = { floor: [], 'floor+kernel': ['kernel'], 'floor+spares': ['spares'], 'floor+lazy-spares': ['lazy-spares'] };
/** The floors given a mode do ts-overlay's kernel work (stack-floor-server.ts); the plain one does none. */
const doesKernelWork = (side: Side) => (FLOOR_MODES[side as FloorSide]?.length ?? 0) > 0;

function startFloor(h: number, side: FloorSide): { pid: number; ready: Promise<void> } {
  const socket = lab.socket(h);
  const child = spawn('ip', ['netns', 'exec', `${lab.name}-h${h}`, 'node', ...pluginNodeArgs(), '--import', 'tsx', resolve(REPO, 'bench/stack-floor-server.ts'), socket, ETCD, String(h - 1), '2', ...FLOOR_MODES[side]], {
    stdio: ['ignore', process.env.BENCH_LOG_LEVEL ? 'inherit' : 'ignore', 'inherit'], // as the plugins' (api-lab.ts)
    detached: true,
    cwd: REPO,
  });
  const ready = (async () => {
    for (const started = performance.now(); performance.now() - started < 30_000; await sleep(20)) {
      if (child.exitCode !== null) throw new Error(`floor server h${h} exited`);
      try {
        const api = new PluginApi(socket, 1);
        await api.call('Plugin.Activate', {});
        api.close();
        return;
      } catch {
        // not listening yet
      }
    }
    child.kill('SIGKILL');
    throw new Error(`floor server h${h} did not serve within 30 s`);
  })();
  return { pid: child.pid!, ready };
}

async function start(side: Side): Promise<Server[]> {
  const started = [1, 2].map((h) =>
    side === 'ts-overlay' ? lab.startPlugin(h) : side === 'ts-overlay+flags' ? lab.startPlugin(h, FLAGS, FLAGS_ENV, FLAGS_NODE_ARGS, FLAGS_PLUGIN) : startFloor(h, side),
  );
  try {
    await Promise.all(started.map((s) => s.ready));
  } catch (err) {
    await lab.tearDown(started); // the host that did start too
    throw err;
  }
  // With the CPU of their `ip`/`bridge` processes: the kernel's work on the devices and entries,
  // mostly.
  return started.map(({ pid }) => ({
    pid,
    cpuMs: () => {
      const own = cpuMs(pid);
      return { own, main: mainThreadCpuMs(pid), tools: cpuWithToolsMs(pid) - own };
    },
  }));
}

/** The control-plane benchmark's all-at-once phase: allocations a second. */
const allAtOnce = async (apis: PluginApi[], net: BenchNetwork) => (await createEndpoints(apis, net, ENDPOINTS, IN_FLIGHT)).allocationsPerSecond;

/** Its phase at RATE endpoints a second offered, open loop: endpoints a second achieved. */
const atRate = async (apis: PluginApi[], net: BenchNetwork) => ENDPOINTS / (await createEndpointsAtRate(apis, net, ENDPOINTS, RATE)).seconds;

interface Measurement {
  side: Side;
  phase: string;
  round: number;
  endpointsPerSecond: number;
  p50Ms: number;
  p99Ms: Record<string, number>;
  slowestP99Ms: number;
  serverCpuMsPerEndpoint: number;
  /** Calls that found every connection busy and opened one of their own, and their p99. */
  newConnections: { calls: number; p99Ms: number };
  /** Of serverCpuMsPerEndpoint, the `ip`/`bridge` processes'. */
  toolsCpuMsPerEndpoint: number;
  /** CPU of the server process's threads other than its main one: V8's compiler and GC helpers, libuv's pool. */
  helpersCpuMsPerEndpoint: number;
  machineCpuMsPerEndpoint: number;
}

/** Runs one phase on fresh clients (`inFlight` connections at most each) and reads its figures. */
async function phase(side: Side, name: string, round: number, servers: Server[], inFlight: number, run: (apis: PluginApi[]) => Promise<number>): Promise<Measurement> {
  const apis = lab.hostApis(inFlight);
  try {
    return await figures(side, name, round, servers, apis, run);
  } finally {
    // BENCH_TIMELINE=DIR: every call, as bench/control-plane.ts writes them (timeline-windows.ts).
    apis.forEach((a) => a.close());
    if (process.env.BENCH_TIMELINE) writeTimeline(process.env.BENCH_TIMELINE, `${side}-${name.replace(/\W+/g, '-')}-round-${round}`, apis);
  }
}

/** Runs one phase on `apis` and reads its figures: latencies, connections opened, CPU. */
async function figures(side: Side, name: string, round: number, servers: Server[], apis: PluginApi[], run: (apis: PluginApi[]) => Promise<number>): Promise<Measurement> {
  const cpuBefore = servers.map((s) => s.cpuMs());
  const machineBefore = machineBusyMs();
  const endpointsPerSecond = await run(apis);
  const cpuAfter = servers.map((s) => s.cpuMs());
  const sum = (pick: (c: Cpu) => number) => cpuAfter.reduce((total, c, i) => total + pick(c) - pick(cpuBefore[i]!), 0);
  const machineCpu = machineBusyMs() - machineBefore;
  const calls = apis.flatMap((a) => a.timeline);
  const opened = calls.filter((c) => c.newConnection).map((c) => c.ms);
  const p99Ms = Object.fromEntries(
    ['IpamDriver.RequestAddress', 'NetworkDriver.CreateEndpoint', 'NetworkDriver.Join'].map((m) => [m.split('.')[1]!, percentile(calls.filter((c) => c.method === m).map((c) => c.ms), 99)]),
  );
  return {
    side,
    phase: name,
    round,
    endpointsPerSecond,
    p50Ms: percentile(calls.map((c) => c.ms), 50),
    p99Ms,
    slowestP99Ms: Math.max(...Object.values(p99Ms)),
    newConnections: { calls: opened.length, p99Ms: opened.length > 0 ? percentile(opened, 99) : 0 },
    serverCpuMsPerEndpoint: (sum((c) => c.own) + sum((c) => c.tools)) / ENDPOINTS / servers.length,
    toolsCpuMsPerEndpoint: sum((c) => c.tools) / ENDPOINTS / servers.length,
    helpersCpuMsPerEndpoint: (sum((c) => c.own) - sum((c) => c.main)) / ENDPOINTS / servers.length,
    machineCpuMsPerEndpoint: machineCpu / ENDPOINTS,
  };
}

/**
 * The floor's FDB and neighbour entries are not waited for, so they must be seen done: else a
 * floor that skipped them would pass for cheap. Every host holds a macvlan per endpoint of its
 * own, and an FDB and a neighbour entry per endpoint of the other's (both phases: ENDPOINTS
 * each, half on each host), within 5 s of the last phase's end. (Entries made after a phase
 * ended are not in its CPU figures; ts-overlay's peers are programmed after the calls too.)
 */
async function checkKernelWork(side: Side): Promise<void> {
  const count = (h: number, pattern: RegExp, ...cmd: string[]) => lab.sh('ip', ['netns', 'exec', `${lab.name}-h${h}`, ...cmd]).split('\n').filter((l) => pattern.test(l)).length;
  const want = ENDPOINTS; // 2 phases x ENDPOINTS / 2 hosts
  // Exactly: a spare left over must not stand in for an endpoint's interface. floor+spares
  // keeps its 32; floor+lazy-spares deletes its own 2 s after the last endpoint.
  const macvlans = want + (side === 'floor+spares' ? SPARE_PORT_DEFAULTS.max : 0);
  for (let tries = 0; ; tries++) {
    const seen = [1, 2].map((h) => [
      count(h, /^\d+: tsf\d+@/, 'ip', '-o', 'link', 'show', 'type', 'macvlan'),
      count(h, /^02:42:.* dst /, 'bridge', 'fdb', 'show', 'dev', 'tsf-vx'),
      count(h, / lladdr 02:42:.*PERMANENT/, 'ip', 'neigh', 'show', 'dev', 'tsf-vx', 'nud', 'permanent'),
    ]);
    if (seen.every(([links, fdb, neigh]) => links === macvlans && fdb! >= want && neigh! >= want)) return;
    if (tries === 50) throw new Error(`${side}: macvlans, FDB and neighbour entries per host ${seen.map((h) => h.join(', ')).join('; ')}, wanted ${macvlans}, ${want}, ${want}`);
    await sleep(100);
  }
}

/**
 * One side in a fresh lab: the all-at-once phase on young processes, then (warmer, as in the
 * control-plane benchmark, where it comes later) the phase at RATE a second on a network of its
 * own, with clients that start with no connections.
 */
async function measure(side: Side, round: number): Promise<Measurement[]> {
  lab.script('up', '--hosts', '2', '--no-plugin');
  const servers = await start(side).catch((err: unknown) => {
    lab.script('down');
    throw err;
  });
  // Which process was which side's, for what was written per process (profiles, allocations).
  console.log(`# ${side}, round ${round}: server processes ${servers.map((s) => s.pid).join(' ')} (hosts 1 and 2)`);
  try {
    const setup = lab.hostApis(1);
    const first = await lab.createNetwork(setup, '10.128.0.0/20');
    const second = await lab.createNetwork(setup, '10.129.0.0/20');
    setup.forEach((a) => a.close());
    await sleep(SETTLE_MS);
    const once = await phase(side, 'all at once', round, servers, IN_FLIGHT, (apis) => allAtOnce(apis, first));
    await sleep(SETTLE_MS);
    const rate = await phase(side, `${RATE}/s`, round, servers, 256, (apis) => atRate(apis, second));
    if (doesKernelWork(side)) await checkKernelWork(side);
    return [once, rate];
  } finally {
    await lab.tearDown(servers); // SIGTERM first under BENCH_PROFILE_DIR, for the profiles
  }
}

const row = (m: Measurement) =>
  `| ${m.phase} | ${m.side} | ${m.round} | ${m.endpointsPerSecond.toFixed(0)} | ${m.p50Ms.toFixed(0)} | ${Object.values(m.p99Ms).map((v) => v.toFixed(0)).join(' / ')} | ${m.newConnections.calls}, ${m.newConnections.p99Ms.toFixed(0)} | ${m.serverCpuMsPerEndpoint.toFixed(2)} (${m.toolsCpuMsPerEndpoint.toFixed(2)}; ${m.helpersCpuMsPerEndpoint.toFixed(2)}) | ${m.machineCpuMsPerEndpoint.toFixed(2)} |`;

async function main() {
  const results: Measurement[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const order = rotated(sides, round - 1); // no side always first or last
    for (const side of order) {
      for (const m of await measure(side, round)) {
        console.log(row(m));
        results.push(m);
      }
    }
  }
  const medians = (phaseName: string, side: Side) => {
    const of = results.filter((m) => m.phase === phaseName && m.side === side);
    const med = (pick: (m: Measurement) => number) => median(of.map(pick));
    const met = of.filter((m) => m.slowestP99Ms <= 50).length;
    return `| ${phaseName} | ${side} | ${med((m) => m.endpointsPerSecond).toFixed(0)} | ${med((m) => m.slowestP99Ms).toFixed(0)} | ${met} of ${of.length} | ${med((m) => m.serverCpuMsPerEndpoint).toFixed(2)} (${med((m) => m.toolsCpuMsPerEndpoint).toFixed(2)}; ${med((m) => m.helpersCpuMsPerEndpoint).toFixed(2)}) | ${med((m) => m.machineCpuMsPerEndpoint).toFixed(2)} |`;
  };
  const phases = ['all at once', `${RATE}/s`];
  const lines = [
    `${ENDPOINTS} endpoints a phase; all at once: ${IN_FLIGHT} calls in flight per host; then ${RATE} a second offered; ${ROUNDS} rounds turn about, a fresh lab each (${new Date().toISOString()})`,
    ...(sides.includes('ts-overlay+flags') ? ['', `ts-overlay+flags: BENCH_FLAGS="${FLAGS.join(' ')}" BENCH_FLAGS_ENV="${process.env.BENCH_FLAGS_ENV ?? ''}" node ${FLAGS_NODE_ARGS.join(' ')}${FLAGS_PLUGIN ? ` BENCH_FLAGS_PLUGIN=${FLAGS_PLUGIN}` : ''}`] : []),
    '',
    '| phase | server | round | allocations/s all at once, endpoints/s achieved at a rate | p50, all calls (ms) | p99 RequestAddress / CreateEndpoint / Join (ms) | calls that opened a connection: how many, their p99 (ms) | CPU per endpoint, per server process, the two hosts\' mean (ms; in brackets its `ip`/`bridge` processes\', then its threads\' but the main one) | CPU per endpoint, whole machine (ms) |',
    '|---|---|---|---|---|---|---|---|---|',
    ...results.map(row),
    '',
    "| phase, medians | server | allocations/s all at once, endpoints/s achieved at a rate | slowest call's p99 (ms) | rounds with it <= 50 ms | CPU per endpoint, per server process (ms; in brackets its tools; its helper threads) | whole machine (ms) |",
    '|---|---|---|---|---|---|---|',
    ...phases.flatMap((p) => sides.map((side) => medians(p, side))),
  ];
  console.log(`\n${lines.join('\n')}`);
  if (process.env.BENCH_REPORT) writeFileSync(process.env.BENCH_REPORT, `${lines.join('\n')}\n`);
}

await main();
