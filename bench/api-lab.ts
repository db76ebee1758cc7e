/**
 * A lab (scripts/lab) whose plugins the benchmark starts itself and drives through their API,
 * with no engines: bench/control-plane.ts and bench/many-networks.ts. Also what they read of
 * the processes: CPU time, memory, each plugin's and etcd's /metrics.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { REPO, sleep } from './bench-lab.js';
import { PluginApi, randomId } from './plugin-api.js';

/** etcd of every lab, on the underlay. */
export const ETCD = 'http://198.18.0.2:2379';
/** Where each plugin serves its metrics, on its host namespace's loopback. */
export const PLUGIN_METRICS_PORT = 9477;

/**
 * node's flags for a plugin process: BENCH_NODE_ARGS (bench/compare-revisions.sh sets them per
 * side), by default the ones the service, the managed plugin and the lab give; and under
 * BENCH_PROFILE_DIR, a V8 CPU profile written there when the process stops on SIGTERM.
 */
export function pluginNodeArgs(nodeFlags = process.env.BENCH_NODE_ARGS ?? '--max-semi-space-size=4 --heap-growing-percent=30'): string[] {
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_PROFILE_DIR] : [];
  return [...nodeFlags.split(' ').filter(Boolean), ...profile];
}

/** "VAR=value VAR2=value2" as an environment (values without spaces). */
export const envList = (list = ''): Record<string, string> =>
  Object.fromEntries(list.split(' ').filter(Boolean).map((kv) => [kv.split('=')[0]!, kv.slice(kv.indexOf('=') + 1)]));

export class ApiLab {
  readonly state: string;
  /** How each host's plugin was last started (startPlugin's arguments), for restartPlugin. */
  private readonly started = new Map<number, { extraArgs: readonly string[]; extraEnv: Readonly<Record<string, string>>; nodeArgs: string[]; plugin: string }>();

  /** `plugin`: the build under test, this checkout's or another's (bench/compare-revisions.sh). */
  constructor(readonly name: string, readonly plugin = resolve(REPO, 'dist/main.js')) {
    this.state = `/var/lib/ts-overlay-lab/${name}`;
  }

  sh(cmd: string, args: string[]): string {
    return execFileSync(cmd, args, { encoding: 'utf8', env: { ...process.env, TSO_LAB: this.name }, maxBuffer: 256 * 1024 * 1024 });
  }

  /** scripts/lab ARGS for this lab. */
  script(...args: string[]): string {
    return this.sh('bash', [resolve(REPO, 'scripts/lab'), ...args]);
  }

  socket(h: number): string {
    return `${this.state}/h${h}/bench.sock`;
  }

  /** A client of each host's plugin, as it runs now, with `inFlight` calls at most (PluginApi). */
  hostApis(inFlight: number, keepIdle = Infinity): PluginApi[] {
    return [new PluginApi(this.socket(1), inFlight, keepIdle), new PluginApi(this.socket(2), inFlight, keepIdle)];
  }

  etcdctl(...args: string[]): string {
    return this.sh('ip', ['netns', 'exec', `${this.name}-ul`, 'env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', ETCD, ...args]);
  }

  etcdPid(): number {
    return Number(readFileSync(`${this.state}/etcd.pid`, 'utf8').trim());
  }

  /**
   * A plugin process of our own in host h's namespace, with no engine behind it; `ready`
   * resolves with the ms from its start until it answers a call that touches state (which
   * waits for its start-up reconcile). `extraArgs`: more `serve` flags; `plugin`: another
   * build's dist/main.js (one inside this checkout, so that it finds node_modules).
   */
  startPlugin(h: number, extraArgs: readonly string[] = [], extraEnv: Readonly<Record<string, string>> = {}, nodeArgs = pluginNodeArgs(), plugin = this.plugin): { pid: number; ready: Promise<number> } {
    this.started.set(h, { extraArgs, extraEnv, nodeArgs, plugin });
    const started = performance.now();
    // BENCH_PLUGIN_ENV: "VAR=value ..." for the plugins only (e.g. glibc's MALLOC_ARENA_MAX), so
    // the load generator itself runs alike on both sides of a comparison.
    const pluginEnv = envList(process.env.BENCH_PLUGIN_ENV);
    const socket = this.socket(h);
    const child = spawn('ip', ['netns', 'exec', `${this.name}-h${h}`, 'node', ...nodeArgs, plugin, 'serve',
      '--socket', socket, '--etcd', ETCD, '--advertise-addr', `198.18.0.1${h}`, '--node-name', `h${h}`,
      '--docker-host', `unix://${this.state}/h${h}/no-engine.sock`, '--metrics-addr', `127.0.0.1:${PLUGIN_METRICS_PORT}`, '--log-level', process.env.BENCH_LOG_LEVEL ?? 'warn', ...extraArgs],
    { stdio: ['ignore', process.env.BENCH_LOG_LEVEL ? 'inherit' : 'ignore', 'inherit'], detached: true, env: { ...process.env, ...pluginEnv, ...extraEnv } });
    const ready = (async () => {
      for (;;) {
        try {
          // Looked at from here, not by a process every 5 ms beside the starting plugin.
          if (!statSync(socket, { throwIfNoEntry: false })?.isSocket()) throw new Error('not listening yet');
          const api = new PluginApi(socket, 1);
          // Activate is answered at once; a call that touches state waits for the start-up
          // reconcile (deleting an unknown network is such a call, and changes nothing).
          await api.call('NetworkDriver.DeleteNetwork', { NetworkID: 'f'.repeat(64) });
          api.close();
          return performance.now() - started;
        } catch {
          if (child.exitCode !== null) throw new Error(`plugin h${h} exited`);
          if (performance.now() - started > 120_000) throw new Error(`plugin h${h} did not serve within 120 s`);
          await new Promise((r) => setTimeout(r, 5));
        }
      }
    })();
    return { pid: child.pid!, ready };
  }

  /**
   * Kills host h's plugin `pid` (SIGKILL: nothing of a clean stop) and starts it again as it
   * was last started (its flags, environment, node flags and build), so that a restarted plugin
   * is the same plugin as before.
   */
  async restartPlugin(h: number, pid: number): Promise<{ pid: number; ready: Promise<number> }> {
    const how = this.started.get(h);
    if (!how) throw new Error(`restartPlugin: no plugin of host ${h} was started by this lab`);
    process.kill(pid, 'SIGKILL');
    await sleep(200);
    return this.startPlugin(h, how.extraArgs, how.extraEnv, how.nodeArgs, how.plugin);
  }

  /**
   * The end of a run: the plugins stop (with SIGTERM first under BENCH_PROFILE_DIR, when node
   * writes their V8 profiles), then the lab goes.
   */
  async tearDown(plugins: ReadonlyArray<{ pid: number }>): Promise<void> {
    const signal = (sig: NodeJS.Signals) => {
      for (const p of plugins) {
        try {
          process.kill(p.pid, sig);
        } catch {
          // already gone
        }
      }
    };
    // Profilers write what they hold when the process ends (CPU: node's; allocations: bench/alloc-profile.mjs).
    if (process.env.BENCH_PROFILE_DIR || process.env.ALLOC_PROFILE_DIR) {
      signal('SIGTERM');
      await sleep(3000);
    }
    signal('SIGKILL');
    this.script('down');
  }

  /**
   * A network on every host of `apis`, made as the engines make it: host 1 asks for the pool and
   * creates the network, each other host gets the pool's copy and creates its copy of it.
   */
  async createNetwork(apis: readonly PluginApi[], subnet: string): Promise<{ poolId: string; engineIds: string[]; vni: number }> {
    const id = randomId();
    const ids: string[] = [];
    let poolId = '';
    for (const [i, api] of apis.entries()) {
      const copy = i > 0 ? { 'ts-overlay.id': id } : {};
      const { PoolID } = await api.call<{ PoolID: string }>('IpamDriver.RequestPool', { AddressSpace: 'ts-overlay', Pool: subnet, SubPool: '', Options: copy, V6: false });
      poolId ||= PoolID; // every host's copy is given the same PoolID
      const gw = subnet.replace(/0\/\d+$/, '1');
      const { Address } = await api.call<{ Address: string }>('IpamDriver.RequestAddress', { PoolID, Address: i > 0 ? gw : '', Options: { RequestAddressType: 'com.docker.network.gateway' } });
      const engineId = i === 0 ? id : randomId();
      await api.call('NetworkDriver.CreateNetwork', { NetworkID: engineId, Options: { 'com.docker.network.generic': copy }, IPv4Data: [{ AddressSpace: 'ts-overlay', Pool: subnet, Gateway: Address }], IPv6Data: [] });
      ids.push(engineId);
    }
    const record = this.etcdctl('get', `/ts-overlay/networks/${id}`, '--print-value-only');
    return { poolId, engineIds: ids, vni: (JSON.parse(record) as { vni: number }).vni };
  }

  /** The /metrics text of a server on a lab namespace's loopback (host 0: etcd's, on the underlay). */
  async metrics(host: number, port = host === 0 ? 2379 : PLUGIN_METRICS_PORT): Promise<string> {
    const netns = host === 0 ? `${this.name}-ul` : `${this.name}-h${host}`;
    const fetchIt = `fetch('http://127.0.0.1:${port}/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))`;
    return (await promisify(execFile)('ip', ['netns', 'exec', netns, 'node', '-e', fetchIt], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })).stdout;
  }
}

export const rssMiB = (pid: number): number => {
  // `ip netns exec` execs node in place: the spawned pid is node's.
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
};

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
/** Fields of a /proc stat file after the command name, which is in parentheses and may hold spaces. */
const statFields = (statFile: string) => readFileSync(statFile, 'utf8').split(') ').at(-1)!.split(' ');
/** CPU time (user + system) used so far, in ms, from a stat file of /proc (which counts clock ticks). */
const statCpuMs = (statFile: string) => {
  const f = statFields(statFile); // utime is the 12th, stime the 13th
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND;
};
/** A whole process's CPU time (its ended threads' included). */
export const cpuMs = (pid: number): number => statCpuMs(`/proc/${pid}/stat`);
/**
 * A process's main thread's CPU time. The rest of a plugin's are its helper threads: V8's
 * (optimizing compiler, concurrent and parallel GC) and libuv's pool, which take CPU from the
 * plugins' main threads and etcd on a small machine.
 */
export const mainThreadCpuMs = (pid: number): number => statCpuMs(`/proc/${pid}/task/${pid}/stat`);
/**
 * A process's CPU time with that of the processes it started: the ones that ended and were
 * waited for (`ip`, `iptables`: cutime and cstime, the 14th and 15th fields) and the ones still
 * running (the `ip`/`bridge` batch sessions), whose own children are not counted.
 */
export const cpuWithToolsMs = (pid: number): number => {
  const f = statFields(`/proc/${pid}/stat`);
  const ended = ((Number(f[13]) + Number(f[14])) * 1000) / TICKS_PER_SECOND;
  const children = readdirSync(`/proc/${pid}/task`).flatMap((tid) => readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean));
  const running = children.map((child) => {
    try {
      return cpuMs(Number(child));
    } catch {
      return 0; // ended since the listing
    }
  });
  return cpuMs(pid) + ended + running.reduce((a, b) => a + b, 0);
};
/** CPU time the whole machine has been busy so far, in ms (every CPU's non-idle time in /proc/stat). */
export const machineBusyMs = (): number => {
  const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  const [user, nice, system, , , irq, softirq, steal] = fields.map(Number);
  return ((user! + nice! + system! + irq! + softirq! + steal!) * 1000) / TICKS_PER_SECOND;
};
