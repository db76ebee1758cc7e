import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PluginClient } from '../../src/conformance/client.js';
import { type EtcdServer, startEtcd } from '../helpers/etcd-server.js';
import { makeNetns, type Netns, removeNamespaceAndItsProcesses, sh, TEST_NS_PREFIX } from '../helpers/netns.js';

/**
 * The conformance run's own processes and namespace. Everything it makes carries the pid of
 * the test process that made it (namespace tsot-conf<pid>-..., socket /tmp/tso-conf-<pid>-...),
 * so a later run can tell the leftovers of a killed run from those of a run still going, and
 * end only its own processes, by pid.
 */
export const NS_LABEL = `conf${process.pid}`;
const LEFTOVER_NS = new RegExp(`^${TEST_NS_PREFIX}conf(\\d+)-`);
const LEFTOVER_SOCKET = /^tso-conf-(\d+)-.*\.sock$/;
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Cleans up after conformance runs that were killed: their namespaces, processes and sockets. */
export function removeLeftoversOfDeadRuns(): void {
  for (const ns of sh('ip', ['netns', 'list']).split('\n').map((l) => l.split(' ')[0]!)) {
    const owner = LEFTOVER_NS.exec(ns)?.[1];
    if (owner && !alive(Number(owner))) removeNamespaceAndItsProcesses(ns);
  }
  for (const file of readdirSync('/tmp')) {
    const owner = LEFTOVER_SOCKET.exec(file)?.[1];
    if (owner && !alive(Number(owner))) rmSync(join('/tmp', file), { force: true });
  }
}

export function uniqueSocketPath(): string {
  return `/tmp/tso-conf-${process.pid}-${randomBytes(3).toString('hex')}.sock`;
}

export interface PluginProcess {
  readonly child: ChildProcess;
  /** stdout and stderr so far, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** The built plugin (dist/main.js), run inside `ns` exactly as an operator would start it. */
export function startPlugin(ns: string, args: readonly string[], env: Readonly<Record<string, string>> = {}): PluginProcess {
  // `ip netns exec` execs node in place: the child's pid is the plugin's own.
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, join(ROOT, 'dist/main.js'), 'serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  return {
    child,
    output: () => output,
    stop: () => stopProcess(child),
  };
}

/** SIGTERM, then SIGKILL if it has not exited within 5 s. */
export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Resolves once the socket accepts connections; rejects if the plugin exits or is too slow. */
export async function waitForSocket(socket: string, plugin: PluginProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (plugin.child.exitCode !== null) throw new Error(`the plugin exited (${plugin.child.exitCode}) before serving:\n${plugin.output()}`);
    if (existsSync(socket) && (await canConnect(socket))) return;
    if (Date.now() > deadline) throw new Error(`the plugin did not serve ${socket} within ${timeoutMs} ms:\n${plugin.output()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Resolves once the start-up (reconcile, the DNS responder's device and chain) is done: a call
 * that touches state is held until then, and its answer (here a refusal) says it is over.
 * Tests that compare the namespace before and after must not see the start-up as a change.
 */
async function waitForStartUp(socket: string): Promise<void> {
  const client = new PluginClient(socket, 30_000);
  try {
    await client.call('/NetworkDriver.EndpointOperInfo', { NetworkID: '0'.repeat(64), EndpointID: '0'.repeat(64) });
  } finally {
    client.close();
  }
}

function canConnect(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(socket);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/** A real plugin with a real etcd, both inside one throwaway namespace of their own. */
export interface IsolatedPlugin {
  readonly ns: Netns;
  readonly etcd: EtcdServer;
  readonly plugin: PluginProcess;
  readonly socket: string;
  /** Stops the plugin and etcd, removes the namespace and the socket; whatever fails on the way. */
  stop(): Promise<void>;
}

/**
 * The namespace's only "underlay" is a veth pair (this kernel has no dummy links); its own
 * loopback means the etcd ports cannot clash with anything on the host. Nothing is left behind
 * if a step fails, and leftovers of killed earlier runs go first.
 */
export async function startIsolatedPlugin(opts: {
  readonly underlay: string;
  readonly etcdPorts: { readonly clientPort: number; readonly peerPort: number };
  readonly nodeName: string;
  readonly logLevel: string;
  /** More `serve` flags. */
  readonly extraArgs?: readonly string[];
}): Promise<IsolatedPlugin> {
  removeLeftoversOfDeadRuns();
  const ns = makeNetns(NS_LABEL);
  const socket = uniqueSocketPath();
  let etcd: EtcdServer | undefined;
  let plugin: PluginProcess | undefined;
  const stop = async () => {
    try {
      await plugin?.stop();
      // Bounded: the helper waits for an exit that never comes if etcd had died already.
      let timer: NodeJS.Timeout | undefined;
      if (etcd) await Promise.race([etcd.stop(), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
      clearTimeout(timer);
    } finally {
      // Whatever still runs in the namespace (an etcd whose start timed out) was started here.
      removeNamespaceAndItsProcesses(ns.name);
      rmSync(socket, { force: true });
    }
  };
  try {
    ns.exec('ip', 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1');
    ns.exec('ip', 'addr', 'add', `${opts.underlay}/24`, 'dev', 'u0');
    ns.exec('ip', 'link', 'set', 'u0', 'up');
    ns.exec('ip', 'link', 'set', 'u1', 'up');
    etcd = await startEtcd({ ...opts.etcdPorts, netns: ns.name });
    plugin = startPlugin(ns.name, [
      '--socket', socket,
      '--etcd', etcd.endpoint,
      '--advertise-addr', opts.underlay,
      '--node-name', opts.nodeName,
      '--docker-host', 'unix:///nonexistent.sock',
      '--log-level', opts.logLevel,
      ...(opts.extraArgs ?? []),
    ]);
    await waitForSocket(socket, plugin);
    await waitForStartUp(socket);
    return { ns, etcd, plugin, socket, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
