import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { PluginClient } from '../../src/conformance/client.js';
import {
  NS_LABEL,
  type PluginProcess,
  removeLeftoversOfDeadRuns,
  startPlugin,
  waitForSocket,
} from '../conformance/plugin-fixture.js';
import { type EtcdServer, startEtcd } from './etcd-server.js';
import { FakeEngine } from './fake-engine.js';
import { makeNetns, type Netns, removeNamespaceAndItsProcesses, sh } from './netns.js';

/**
 * N real plugin processes (dist/main.js), each in a network namespace of its own (a "host"),
 * all on one real etcd: the hosts' namespaces hang on one underlay bridge, in a namespace that
 * also runs etcd. Each host can have a FakeEngine (the test plays the engine). Namespaces and
 * sockets carry the conformance fixture's marks (tsot<ID>-conf<pid>-..., /tmp/tso-conf-<pid>-...),
 * so a later run removes what a killed run left.
 */
export interface ClusterOptions {
  readonly hosts: number;
  /** Third octet of the underlay 198.18.X.0/24. */
  readonly underlayNet: number;
  readonly etcdPorts: { readonly clientPort: number; readonly peerPort: number };
  readonly logLevel?: string;
  /** Extra serve flags for every plugin. */
  readonly pluginArgs?: readonly string[];
  /** Give every host an engine API played by the test (otherwise the engine is unreachable). */
  readonly fakeEngine?: boolean;
}

export class ClusterHost {
  plugin: PluginProcess | undefined;
  readonly client: PluginClient;
  /** Every exit of this host's plugin processes, in order: how each one ended. */
  readonly exits: { code: number | null; signal: NodeJS.Signals | null; output: string }[] = [];

  constructor(
    readonly index: number,
    readonly name: string,
    readonly ns: Netns,
    readonly vtep: string,
    readonly socket: string,
    readonly engine: FakeEngine | undefined,
    private readonly args: readonly string[],
  ) {
    this.client = new PluginClient(socket, 30_000);
  }

  /** The driver name the plugin reports to engines: its socket's name. */
  get driverName(): string {
    return this.socket.replace(/^.*\//, '').replace(/\.sock$/, '');
  }

  /** Starts the plugin (with `env`, for example a crash point) and waits for its socket. */
  async start(env: Readonly<Record<string, string>> = {}): Promise<void> {
    if (this.alive()) throw new Error(`${this.name}: plugin already running`);
    rmSync(this.socket, { force: true });
    this.client.close();
    const p = startPlugin(this.ns.name, this.args, env);
    this.plugin = p;
    p.child.once('exit', (code, signal) => this.exits.push({ code, signal, output: p.output() }));
    await waitForSocket(this.socket, p);
  }

  alive(): boolean {
    const c = this.plugin?.child;
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  /** Resolves when the current plugin process has exited (at once if none runs). */
  async exited(): Promise<void> {
    const c = this.plugin?.child;
    if (!c || !this.alive()) return;
    await new Promise<void>((resolve) => c.once('exit', () => resolve()));
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.alive()) return;
    const done = this.exited();
    this.plugin!.child.kill(signal);
    await done;
  }

  async stop(): Promise<void> {
    await this.plugin?.stop();
  }

  /** Links of the host namespace, names only (without @peer), sorted; loopback, underlay and the DNS responder's device left out. */
  links(): string[] {
    return sh('ip', ['-n', this.ns.name, '-br', 'link'])
      .split('\n')
      .map((l) => l.split(/\s+/)[0]!.split('@')[0]!)
      .filter((l) => l && l !== 'lo' && l !== 'u0' && l !== 'tso-dns0') // tso-dns0: the host's DNS responder, not a network's
      .sort();
  }

  /** Remote entries on every VXLAN device: "fdb <dev> <mac> <dst>" and "neigh <dev> <ip> <mac>". */
  peerEntries(): string[] {
    const out: string[] = [];
    const fdb = JSON.parse(sh('bridge', ['-n', this.ns.name, '-j', 'fdb', 'show'])) as { mac: string; ifname?: string; dev?: string; dst?: string }[];
    for (const e of fdb) if (e.dst) out.push(`fdb ${e.ifname ?? e.dev} ${e.mac} ${e.dst}`);
    const neigh = JSON.parse(sh('ip', ['-n', this.ns.name, '-j', 'neigh', 'show'])) as { dst: string; dev: string; lladdr?: string; state?: string[] }[];
    for (const n of neigh) if (n.dev.startsWith('tsvx-') && n.state?.includes('PERMANENT')) out.push(`neigh ${n.dev} ${n.dst} ${n.lladdr}`);
    return out.sort();
  }

  /** The plugin's lines in FORWARD (its host-port guard; the TS-OVERLAY chain of earlier builds), as `iptables -S` prints them. */
  forwardRules(): string[] {
    const r = this.ns.tryExec('iptables', '-S');
    return r.out.split('\n').filter((l) => /^-A FORWARD .*(tsh-|TS-OVERLAY)|^-[AN] TS-OVERLAY( |$)/.test(l)).sort();
  }
}

export class PluginCluster {
  private constructor(
    readonly hosts: ClusterHost[],
    private readonly underlay: Netns,
    private readonly etcd: EtcdServer,
  ) {}

  static async start(opts: ClusterOptions): Promise<PluginCluster> {
    removeLeftoversOfDeadRuns();
    const namespaces: Netns[] = [];
    const engines: FakeEngine[] = [];
    let etcd: EtcdServer | undefined;
    const net = `198.18.${opts.underlayNet}`;
    try {
      const ul = makeNetns(NS_LABEL);
      namespaces.push(ul);
      ul.exec('ip', 'link', 'add', 'ulbr', 'type', 'bridge');
      ul.exec('ip', 'addr', 'add', `${net}.1/24`, 'dev', 'ulbr');
      ul.exec('ip', 'link', 'set', 'ulbr', 'up');
      etcd = await startEtcd({ ...opts.etcdPorts, host: `${net}.1`, netns: ul.name });
      const hosts: ClusterHost[] = [];
      for (let i = 1; i <= opts.hosts; i++) {
        const ns = makeNetns(NS_LABEL);
        namespaces.push(ns);
        const vtep = `${net}.${10 + i}`;
        sh('ip', ['link', 'add', 'u0', 'netns', ns.name, 'type', 'veth', 'peer', 'name', `uh${i}`, 'netns', ul.name]);
        ul.exec('ip', 'link', 'set', `uh${i}`, 'master', 'ulbr', 'up');
        ns.exec('ip', 'addr', 'add', `${vtep}/24`, 'dev', 'u0');
        ns.exec('ip', 'link', 'set', 'u0', 'up');
        const tag = randomBytes(3).toString('hex');
        const socket = `/tmp/tso-conf-${process.pid}-${tag}-h${i}.sock`;
        let engine: FakeEngine | undefined;
        if (opts.fakeEngine) {
          engine = new FakeEngine(`/tmp/tso-conf-${process.pid}-${tag}-engine${i}.sock`);
          engines.push(engine);
          await engine.start();
        }
        const args = [
          '--socket', socket,
          '--etcd', etcd.endpoint,
          '--advertise-addr', vtep,
          '--node-name', `h${i}`,
          '--docker-host', engine ? `unix://${engine.socket}` : 'unix:///nonexistent.sock',
          '--log-level', opts.logLevel ?? 'error',
          ...(opts.pluginArgs ?? []),
        ];
        hosts.push(new ClusterHost(i, `h${i}`, ns, vtep, socket, engine, args));
      }
      const cluster = new PluginCluster(hosts, ul, etcd);
      await Promise.all(hosts.map((h) => h.start()));
      return cluster;
    } catch (err) {
      for (const e of engines) await e.stop().catch(() => undefined);
      for (const ns of namespaces) removeNamespaceAndItsProcesses(ns.name);
      throw err;
    }
  }

  /**
   * Every key under /ts-overlay/ with its value, except the leased node records (they come and
   * go with the plugins) and the pools-guard counter (bumped by every pool write).
   */
  etcdState(): Map<string, string> {
    const out = this.underlay.exec('env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', this.etcd.endpoint, 'get', '/ts-overlay/', '--prefix', '-w', 'json');
    const kvs = (JSON.parse(out) as { kvs?: { key: string; value: string }[] }).kvs ?? [];
    const state = new Map<string, string>();
    for (const kv of kvs) {
      const key = Buffer.from(kv.key, 'base64').toString('utf8').slice('/ts-overlay/'.length);
      if (key.startsWith('nodes/') || key === 'pools-guard') continue;
      state.set(key, Buffer.from(kv.value, 'base64').toString('utf8'));
    }
    return state;
  }

  /** Node records alive in etcd (their leases). */
  liveNodes(): string[] {
    const out = this.underlay.exec('env', 'ETCDCTL_API=3', 'etcdctl', '--endpoints', this.etcd.endpoint, 'get', '/ts-overlay/nodes/', '--prefix', '--keys-only');
    return out.split('\n').filter(Boolean).map((k) => k.slice('/ts-overlay/nodes/'.length)).sort();
  }

  async stop(): Promise<void> {
    for (const h of this.hosts) {
      h.client.close();
      await h.stop().catch(() => undefined);
      await h.engine?.stop().catch(() => undefined);
      rmSync(h.socket, { force: true });
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.etcd.stop(), new Promise((r) => (timer = setTimeout(r, 10_000)))]);
    clearTimeout(timer);
    for (const h of this.hosts) removeNamespaceAndItsProcesses(h.ns.name);
    removeNamespaceAndItsProcesses(this.underlay.name);
  }
}
