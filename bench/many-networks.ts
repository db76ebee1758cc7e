/**
 * Many networks on a host: what each reconcile pass costs a plugin that has N networks, and how
 * long its restart takes. The periodic pass looks at every network of the host, so its cost
 * grows with them and is paid every --reconcile-interval seconds whether anything changed or
 * not; the restart waits for the first pass before it serves.
 *
 * One lab of two hosts, no engines (bench/api-lab.ts). For each build of BENCH_PLUGINS
 * ("label=path/to/dist/main.js ...", default this checkout's), taken turn about BENCH_RUNS
 * times: the lab comes up with both plugins, N networks (BENCH_NETWORKS, default 200) are made
 * on both hosts with the calls an engine sends for `docker network create` and for its copy on
 * the other host, one network at a time; then, for BENCH_IDLE_SECONDS with nothing else going
 * on and passes every BENCH_RECONCILE_INTERVAL seconds, host 1's plugin's CPU with the `ip`
 * and `iptables` processes it ran, and the whole machine's, divided by the passes it counted;
 * then host 1's plugin is killed and started again, and timed until it serves.
 * The window holds whatever else a plugin does on a timer (with no engine to reach, its network
 * propagation retries every 2 s) and may cut a pass at either end, so a figure per pass is
 * good to about one pass in the window's count (4-6): for comparing builds, not to the percent.
 * Prints a table (medians per build, and their ratio when there are two) and writes
 * $BENCH_RESULTS_DIR/many-networks.json (default bench/results).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ApiLab, cpuWithToolsMs, machineBusyMs } from './api-lab.js';
import { sleep } from './bench-lab.js';
import { parsePluginMetrics } from './plugin-counters.js';
import { markdownTable } from './report-model.js';
import { median } from './stats.js';

const NETWORKS = Number(process.env.BENCH_NETWORKS ?? 200);
const RUNS = Number(process.env.BENCH_RUNS ?? 2);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 30);
const INTERVAL = Number(process.env.BENCH_RECONCILE_INTERVAL ?? 5);
const RESULTS = process.env.BENCH_RESULTS_DIR ?? resolve(import.meta.dirname, 'results');
const LAB = process.env.TSO_LAB ?? 'mnet';
const builds = (process.env.BENCH_PLUGINS ?? `this=${resolve(import.meta.dirname, '../dist/main.js')}`)
  .split(' ')
  .filter(Boolean)
  .map((spec) => ({ label: spec.slice(0, spec.indexOf('=')), plugin: spec.slice(spec.indexOf('=') + 1) }));
if (builds.some((b) => !b.label || !b.plugin)) throw new Error('BENCH_PLUGINS: "label=path/to/dist/main.js ..."');

const log = (msg: string) => console.error(`[many-networks ${new Date().toISOString().slice(11, 19)}] ${msg}`);
/** Network number i's /24, from 10.144.0.0 on. */
const subnetOf = (i: number) => `10.${144 + (i >> 8)}.${i & 255}.0/24`;

interface Sample {
  /** Wall time of one network's calls on both hosts (RequestPool, RequestAddress, CreateNetwork each), median. */
  readonly createMs: number;
  /** Host 1's plugin per reconcile pass, its `ip`/`iptables` processes included. */
  readonly pluginCpuMsPerPass: number;
  readonly machineCpuMsPerPass: number;
  readonly passes: number;
  /** From the restarted plugin's start until it serves (its first pass done). */
  readonly restartMs: number;
}

async function oneRun(build: { label: string; plugin: string }): Promise<Sample> {
  const lab = new ApiLab(LAB, build.plugin);
  const args = ['--reconcile-interval', String(INTERVAL)];
  const plugins: Array<{ pid: number; ready: Promise<number> }> = [];
  try {
    lab.script('up', '--hosts', '2', '--no-plugin');
    plugins.push(lab.startPlugin(1, args), lab.startPlugin(2, args));
    await Promise.all(plugins.map((p) => p.ready));
    const apis = lab.hostApis(1);
    const createMs: number[] = [];
    for (let i = 0; i < NETWORKS; i++) {
      const began = performance.now();
      await lab.createNetwork(apis, subnetOf(i));
      createMs.push(performance.now() - began);
    }
    apis.forEach((a) => a.close());

    // Passes asked for by the networks' own events are over after one interval.
    await sleep(INTERVAL * 1000);
    const pid = plugins[0]!.pid;
    const passesBefore = parsePluginMetrics(await lab.metrics(1)).reconciles;
    const cpuBefore = cpuWithToolsMs(pid);
    const machineBefore = machineBusyMs();
    await sleep(IDLE_SECONDS * 1000);
    // The CPU first: reading the metrics starts a process.
    const pluginCpuMs = cpuWithToolsMs(pid) - cpuBefore;
    const machineCpuMs = machineBusyMs() - machineBefore;
    const passes = parsePluginMetrics(await lab.metrics(1)).reconciles - passesBefore;
    // No pass in the window: no figure (the report lists it as missing), not a division by zero.
    const pluginCpuMsPerPass = passes > 0 ? pluginCpuMs / passes : NaN;
    const machineCpuMsPerPass = passes > 0 ? machineCpuMs / passes : NaN;

    plugins[0] = await lab.restartPlugin(1, pid);
    const restartMs = await plugins[0].ready;
    return { createMs: median(createMs), pluginCpuMsPerPass, machineCpuMsPerPass, passes, restartMs };
  } finally {
    // Under BENCH_PROFILE_DIR, host 2's V8 profile holds the idle passes: that plugin ran all along.
    await lab.tearDown(plugins);
  }
}

async function main() {
  const started = new Date();
  const samples = new Map(builds.map((b) => [b.label, [] as Sample[]]));
  for (let run = 1; run <= RUNS; run++) {
    for (const b of builds) {
      log(`run ${run}/${RUNS}: ${b.label} (${b.plugin}), ${NETWORKS} networks`);
      samples.get(b.label)!.push(await oneRun(b));
    }
  }
  const medians = builds.map((b) => {
    const s = samples.get(b.label)!;
    const of = (k: keyof Sample) => median(s.map((x) => x[k]));
    return { label: b.label, createMs: of('createMs'), pluginCpuMsPerPass: of('pluginCpuMsPerPass'), machineCpuMsPerPass: of('machineCpuMsPerPass'), restartMs: of('restartMs') };
  });
  const rows: Array<[string, (m: (typeof medians)[number]) => number, number]> = [
    ['one network made on both hosts (median), ms', (m) => m.createMs, 1],
    ['a reconcile pass: host 1 plugin CPU with its ip/iptables processes, ms', (m) => m.pluginCpuMsPerPass, 0],
    ['a reconcile pass: the whole machine CPU, ms', (m) => m.machineCpuMsPerPass, 0],
    ['restart until serving, ms', (m) => m.restartMs, 0],
  ];
  const ratio = medians.length === 2 ? (get: (m: (typeof medians)[number]) => number) => `${(get(medians[1]!) / get(medians[0]!)).toFixed(2)}x` : undefined;
  const header = ['what (medians of runs)', ...medians.map((m) => m.label), ...(ratio ? [`${medians[1]!.label} / ${medians[0]!.label}`] : [])];
  console.log(`\n${NETWORKS} networks on each of 2 hosts, reconcile every ${INTERVAL} s, ${IDLE_SECONDS} s idle, ${RUNS} runs per build turn about\n`);
  console.log(markdownTable(header, rows.map(([what, get, digits]) => [what, ...medians.map((m) => get(m).toFixed(digits)), ...(ratio ? [ratio(get)] : [])])));
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(resolve(RESULTS, 'many-networks.json'), JSON.stringify({ date: started.toISOString(), networks: NETWORKS, reconcileIntervalSeconds: INTERVAL, idleSeconds: IDLE_SECONDS, builds, samples: Object.fromEntries(samples), medians }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
