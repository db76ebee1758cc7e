import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { owned } from './instance.js';

/** Every namespace a data-plane test makes starts with this, so leftovers can be found. */
export const TEST_NS_PREFIX = `${owned('tsot')}-`;

export function sh(cmd: string, args: string[], input?: string): string {
  // A long race run leaves etcd dumps and link lists of many megabytes (the default cap is 1 MiB).
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, ...(input !== undefined ? { input } : {}), stdio: ['pipe', 'pipe', 'pipe'] });
}

export function tryRun(cmd: string, args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: sh(cmd, args) };
  } catch (err) {
    return { ok: false, out: String((err as { stdout?: string }).stdout ?? '') };
  }
}

/**
 * Removes namespaces an earlier, killed run left behind, with what still runs in them (a
 * conformance or hardening run's plugins and etcd): deleting only the name would leave those
 * processes running, out of reach of the next run's clean-up.
 */
export function removeLeftoverNamespaces(): void {
  for (const ns of sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!)) {
    if (ns.startsWith(TEST_NS_PREFIX)) removeNamespaceAndItsProcesses(ns);
  }
}

/** Processes whose network namespace is `ns` (etcd and the plugin, for our namespaces). */
export function pidsIn(ns: string): number[] {
  return tryRun('ip', ['netns', 'pids', ns]).out.split('\n').filter(Boolean).map(Number);
}

/** Kills what runs in `ns` (and removes the data directory of an etcd among it), then deletes `ns`. */
export function removeNamespaceAndItsProcesses(ns: string): void {
  for (const pid of pidsIn(ns)) {
    const dataDir = etcdDataDirOf(pid);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }
  tryRun('ip', ['netns', 'del', ns]);
}

/** The --data-dir of a test etcd (test/helpers/etcd-server.ts makes them as <tmp>/tso-etcd-*). */
function etcdDataDirOf(pid: number): string | undefined {
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const dir = args[args.indexOf('--data-dir') + 1];
    return args.includes('--data-dir') && dir?.startsWith(join(tmpdir(), 'tso-etcd-')) ? dir : undefined;
  } catch {
    return undefined;
  }
}


export interface Netns extends AsyncDisposable {
  readonly name: string;
  exec(cmd: string, ...args: string[]): string;
  tryExec(cmd: string, ...args: string[]): { ok: boolean; out: string };
}

/** The PIDs of the long-lived batch processes of one tool (src/dataplane/batch-session.ts) in the namespace. */
export const sessionPids = (tool: 'ip' | 'bridge', ns: string): string[] =>
  tryRun('pgrep', ['-x', '-f', `${tool} -n ${ns} -force -batch -`]).out.split('\n').filter(Boolean).sort();

/** A throwaway namespace with loopback up; deleted by `await using`. */
export function makeNetns(label: string): Netns {
  const name = `${TEST_NS_PREFIX}${label}-${randomBytes(3).toString('hex')}`;
  sh('ip', ['netns', 'add', name]);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return {
    name,
    exec: (cmd, ...args) => sh('ip', ['netns', 'exec', name, cmd, ...args]),
    tryExec: (cmd, ...args) => tryRun('ip', ['netns', 'exec', name, cmd, ...args]),
    async [Symbol.asyncDispose]() {
      // A Runner's batch sessions in the namespace (the neighbour and FDB ones wait 10 minutes
      // for work) would keep the deleted namespace and its devices alive until they end.
      const sessions = [...sessionPids('ip', name), ...sessionPids('bridge', name)];
      if (sessions.length) tryRun('kill', sessions);
      tryRun('ip', ['netns', 'del', name]);
    },
  };
}

/** Two "hosts" on one underlay link (a veth pair), 198.18.200.1 and .2. */
export function underlayPair(a: Netns, b: Netns): { vtepA: string; vtepB: string } {
  sh('ip', ['link', 'add', 'ul0', 'netns', a.name, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', b.name]);
  sh('ip', ['-n', a.name, 'addr', 'add', '198.18.200.1/24', 'dev', 'ul0']);
  sh('ip', ['-n', b.name, 'addr', 'add', '198.18.200.2/24', 'dev', 'ul0']);
  sh('ip', ['-n', a.name, 'link', 'set', 'ul0', 'up']);
  sh('ip', ['-n', b.name, 'link', 'set', 'ul0', 'up']);
  return { vtepA: '198.18.200.1', vtepB: '198.18.200.2' };
}

/**
 * Does what the engine does after Join: moves the interface into the container's namespace,
 * names it eth0, gives it the endpoint's MAC (when given) and address, brings it up.
 */
export function plugIntoContainer(host: Netns, container: Netns, ifname: string, cidr: string, mac?: string): void {
  sh('ip', ['-n', host.name, 'link', 'set', ifname, 'netns', container.name]);
  sh('ip', ['-n', container.name, 'link', 'set', ifname, 'name', 'eth0']);
  if (mac) sh('ip', ['-n', container.name, 'link', 'set', 'eth0', 'address', mac]);
  sh('ip', ['-n', container.name, 'addr', 'add', cidr, 'dev', 'eth0']);
  sh('ip', ['-n', container.name, 'link', 'set', 'eth0', 'up']);
}
