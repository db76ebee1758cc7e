/**
 * How a real engine calls the plugin when many containers start at once on one network: at
 * most how many RequestAddress, CreateEndpoint and Join calls were in flight at the same time.
 * bench/control-plane.ts makes its endpoints "as an engine sends them" from what this shows
 * (libnetwork's Network.CreateEndpoint holds the engine's lock on the network from the address
 * assignment through the driver's CreateEndpoint).
 *   TSO_TEST_ID=3 npx tsx bench/engine-call-order.ts      (BENCH_CONTAINERS: 30 docker run -d at once)
 * One lab host (TSO_LAB, default eco) with its engine and plugin; the plugin's debug log times
 * every call it answered (its end, and how long it took). The log's times are whole
 * milliseconds, which can only make calls look more overlapping than they were, never less.
 * The plugin's /metrics count the connections the engine opened to its socket meanwhile: a
 * call that finds no idle connection opens one, and the engine keeps at most 2 idle.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { ApiLab, PLUGIN_METRICS_PORT } from './api-lab.js';
import { connectionsOpened as countIn } from './plugin-counters.js';
import { markdownTable } from './report-model.js';

const LAB = process.env.TSO_LAB ?? `eco${process.env.TSO_TEST_ID ?? ''}`;
const CONTAINERS = Number(process.env.BENCH_CONTAINERS ?? 30);
const REPO = resolve(import.meta.dirname, '..');
const PLUGIN_LOG = `/var/lib/ts-overlay-lab/${LAB}/h1/plugin.log`;
const env = { ...process.env, TSO_LAB: LAB, TSO_LAB_PLUGIN_ARGS: `${process.env.TSO_LAB_PLUGIN_ARGS ?? ''} --metrics-addr 127.0.0.1:${PLUGIN_METRICS_PORT}`.trim() };
const lab = (...args: string[]) => execFileSync('bash', [resolve(REPO, 'scripts/lab'), ...args], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
const docker = (...args: string[]) => promisify(execFile)('bash', [resolve(REPO, 'scripts/lab'), 'docker', '1', ...args], { env });

interface Call {
  readonly call: string;
  readonly start: number;
  readonly end: number;
}

/** Connections host 1's plugin has accepted on its socket, from its /metrics. */
async function connectionsOpened(): Promise<number> {
  const count = countIn(await new ApiLab(LAB).metrics(1));
  if (Number.isNaN(count)) throw new Error('the plugin does not count its connections (a build before ts_overlay_api_connections_opened_total)');
  return count;
}

/** The most calls of one kind that were in flight at once. */
function maxInFlight(calls: readonly Call[]): number {
  const edges = calls.flatMap((c) => [[c.start, 1], [c.end, -1]] as const).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, step] of edges) most = Math.max(most, (now += step));
  return most;
}

async function main(): Promise<void> {
  lab('up', '--hosts', '1');
  try {
    lab('docker', '1', 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', 'crowd');
    // The network's first container sets it up on the host; the ones measured only join.
    lab('docker', '1', 'run', '-d', '--net', 'crowd', 'busybox:local', 'sleep', '3600');
    const from = statSync(PLUGIN_LOG).size;
    const connectionsBefore = await connectionsOpened();
    const started = performance.now();
    await Promise.all(Array.from({ length: CONTAINERS }, () => docker('run', '-d', '--net', 'crowd', 'busybox:local', 'sleep', '3600')));
    const seconds = (performance.now() - started) / 1000;
    const connections = (await connectionsOpened()) - connectionsBefore;
    const calls: Call[] = readFileSync(PLUGIN_LOG).subarray(from).toString('utf8').split('\n')
      .filter((l) => l.includes('"api call"'))
      .map((l) => JSON.parse(l) as { call: string; time: number; ms: number })
      .map((j) => ({ call: j.call.slice(1), start: j.time - j.ms, end: j.time }));
    const kinds = ['IpamDriver.RequestAddress', 'NetworkDriver.CreateEndpoint', 'NetworkDriver.Join'];
    const rows = kinds.map((k) => {
      const of = calls.filter((c) => c.call === k);
      return [k, String(of.length), String(maxInFlight(of))];
    });
    console.log(`${CONTAINERS} \`docker run -d\` at once on one engine and one ts-overlay network (${seconds.toFixed(1)} s)\n`);
    console.log(markdownTable(['call', 'calls', 'most in flight at once'], rows));
    const answered = calls.length;
    if (answered === 0) throw new Error(`no "api call" lines in ${PLUGIN_LOG}: the plugin must log at debug level`);
    console.log(`\nConnections the engine opened to the plugin meanwhile: ${connections}, for ${answered} calls answered (${(connections / answered).toFixed(2)} per call)`);
  } finally {
    lab('down');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
