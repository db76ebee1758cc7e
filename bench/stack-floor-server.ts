/**
 * The least a plugin on this stack must do per endpoint, for bench/stack-floor.ts: fastify on
 * the plugin socket, the endpoint and its address written to etcd in one transaction (through
 * the plugin's own store layer, so with its group commit), the other hosts' records read from
 * etcd watches. Nothing else: no request checks, no kernel device, no FDB entry, no metrics, no
 * reconcile. It answers the calls the control-plane benchmark makes, in its key layout, so the
 * same load generator drives it as it drives ts-overlay.
 *
 * With `kernel`, it also does the kernel work of ts-overlay's data path, simply: a VXLAN
 * device, one macvlan on it per endpoint of its own, made when CreateEndpoint comes and waited
 * for by Join (the engine moves the interface into the container right after Join), through
 * the plugin's own long-lived `ip -batch` session (BatchSession, one request per turn of the
 * event loop); and for every other host's endpoint a static FDB entry and a neighbour entry,
 * written to `bridge -batch`/`ip -batch` processes a turn at a time and not waited for (no
 * call waits for them in ts-overlay either). It makes no spare interfaces ahead of Joins.
 *
 * With `spares`, the same kernel work, but its macvlans are made ahead: it keeps SPARES of them
 * ready from its start, an endpoint takes one when there is one (and waits for a new one only
 * when there is none), and each taken one is made again at once. So an endpoint waits for `ip`
 * only when endpoints come faster than spares are made; the kernel's work per endpoint is the
 * same. That is kinder than ts-overlay: its spares are ready before any burst, on every
 * network (they are made on the one VXLAN device all networks share here).
 *
 * With `lazy-spares`, spares follow ts-overlay's policy (spare-ports.ts) instead: none at the
 * start, then one for every 8 endpoints of the last second, at most SPARES, all deleted after
 * 2 s without an endpoint. So a burst's first endpoints wait for `ip`, as ts-overlay's do.
 *
 *   ip netns exec NS node --import tsx bench/stack-floor-server.ts SOCKET ETCD HOST_INDEX HOSTS [kernel|spares|lazy-spares]
 *
 * Not a plugin: it trusts its caller and keeps everything in memory.
 */
import { execFileSync, spawn } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import Fastify from 'fastify';
import { BatchSession } from '../src/dataplane/batch-session.js';
import { LinkReaper } from '../src/dataplane/link-reaper.js';
import { SPARE_PORT_DEFAULTS } from '../src/dataplane/spare-ports.js';
import { silentLogger } from '../src/lib/logger.js';
import { EtcdKv } from '../src/store/etcd-kv.js';
import { keys } from '../src/store/keys.js';

const [socket, etcd, hostArg, hostsArg, mode] = process.argv.slice(2);
if (!socket || !etcd || !hostArg || !hostsArg) throw new Error('usage: stack-floor-server.ts SOCKET ETCD HOST_INDEX HOSTS [kernel|spares|lazy-spares]');
const host = Number(hostArg);
const hosts = Number(hostsArg);

const kv = new EtcdKv({ endpoints: [etcd], prefix: '/ts-overlay/', callTimeoutMs: 10_000 }, silentLogger);
const node = `h${host + 1}`;

type Pool = { subnet: string; base: number; next: number };
const pools = new Map<string, Pool>();
/** Each network's subnet, by the engine's network ID (this host's copy's). */
const networks = new Map<string, string>();
/** Per endpoint ID: its etcd transaction and (with `kernel`) its interface, which Join waits for (as ts-overlay's Join does). */
const published = new Map<string, Promise<[number | undefined, string]>>();
/** Every endpoint record of the cluster, as the watches tell them (the FDB's source). */
const endpoints = new Map<string, unknown>();
/** Every claimed address of the cluster (an IPAM's view of the others' claims). */
const claimed = new Map<string, unknown>();

/** Lines for a tool, written once per turn of the event loop (ts-overlay's sessions do the same). */
function batchTool(cmd: string, args: string[]): (line: string) => void {
  const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'ignore'] });
  const lines: string[] = [];
  return (line) => {
    if (lines.length === 0) setImmediate(() => void child.stdin.write(`${lines.splice(0).join('\n')}\n`));
    lines.push(line);
  };
}

/** Spares kept ready with `spares`, the most with `lazy-spares`: ts-overlay's (SPARE_PORT_DEFAULTS). */
const SPARES = SPARE_PORT_DEFAULTS.max;

/** The kernel's part, when asked for: the devices and entries ts-overlay's data path needs. */
const kernel = (() => {
  if (mode !== 'kernel' && mode !== 'spares' && mode !== 'lazy-spares') return undefined;
  const vx = 'tsf-vx';
  execFileSync('ip', ['link', 'add', vx, 'type', 'vxlan', 'id', '4242', 'dstport', '4789', 'local', `198.18.0.1${host + 1}`, 'dev', 'eth0', 'nolearning']);
  execFileSync('ip', ['link', 'set', vx, 'up']);
  // Neighbour entries in an `ip` of their own: ip lists every link before its first one.
  const [neighbours, fdb] = [batchTool('ip', ['-force', '-batch', '-']), batchTool('bridge', ['-force', '-batch', '-'])];
  const links = new BatchSession('ip', undefined);
  let ports = 0;
  let waiting: Array<{ line: string; done: (failure: string | undefined) => void }> = [];
  /** The interface's name once it exists; its `link add` goes with the others asked for this turn. */
  const make = () =>
    new Promise<string>((resolve, reject) => {
      const name = `tsf${ports++}`;
      if (waiting.length === 0) {
        setImmediate(() => {
          const batch = waiting;
          waiting = [];
          links.run(batch.map((w) => w.line)).then((outcomes) => batch.forEach((w, i) => w.done(outcomes[i])), (err: Error) => batch.forEach((w) => w.done(err.message)));
        });
      }
      waiting.push({ line: `link add ${name} link ${vx} type macvlan mode bridge`, done: (failure) => (failure === undefined ? resolve(name) : reject(new Error(failure))) });
    });
  const spares: string[] = [];
  let makingSpares = 0;
  const reaper = mode === 'lazy-spares' ? new LinkReaper(undefined) : undefined;
  /** When the last second's endpoints asked for their interfaces (`lazy-spares`). */
  const asked: number[] = [];
  let idle: NodeJS.Timeout | undefined;
  const wanted = () => {
    if (mode === 'spares') return SPARES;
    if (mode !== 'lazy-spares') return 0;
    while (asked.length > 0 && asked[0]! <= performance.now() - 1000) asked.shift();
    return Math.min(SPARES, Math.floor(asked.length / SPARE_PORT_DEFAULTS.joinsPerSpare));
  };
  const refill = () => {
    for (; spares.length + makingSpares < wanted(); makingSpares++) {
      make().then(
        (name) => spares.push(name),
        () => undefined, // the next refill tries again
      ).finally(() => makingSpares--);
    }
  };
  refill();
  /** An interface for an endpoint: a spare when one is ready, else a new one. */
  const port = () => {
    if (mode === 'lazy-spares') {
      asked.push(performance.now());
      clearTimeout(idle);
      // Deleted by ts-overlay's own reaper: together, as one device group, in an `ip` of its
      // own, not in the session that makes interfaces.
      idle = setTimeout(() => void reaper!.delete(spares.splice(0)), SPARE_PORT_DEFAULTS.idleMs);
    }
    const spare = spares.shift();
    refill();
    return spare === undefined ? make() : Promise.resolve(spare);
  };
  return {
    port,
    peer: (ip: string, mac: string, vtep: string) => {
      fdb(`fdb replace ${mac} dev ${vx} dst ${vtep} self permanent`);
      neighbours(`neigh replace ${ip} lladdr ${mac} dev ${vx} nud permanent`);
    },
  };
})();
const macOf = (ip: string) => `02:42:${ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0')).join(':')}`;

const ipv4 = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
const ipv4Number = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);

function poolOf(subnet: string): Pool {
  let pool = pools.get(subnet);
  if (!pool) {
    // Each host hands out its own stripe of the subnet from memory (ts-overlay's stripes do
    // the same), so no address needs a round trip to etcd before CreateEndpoint.
    pool = { subnet, base: ipv4Number(subnet.split('/')[0]!), next: 2 + host };
    pools.set(subnet, pool);
  }
  return pool;
}

type Body = Record<string, any>;
const routes: Record<string, (body: Body) => unknown> = {
  'Plugin.Activate': () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),
  'IpamDriver.RequestPool': (b) => ({ PoolID: b.Pool, Pool: b.Pool, Data: {} }),
  'IpamDriver.RequestAddress': (b) => {
    const pool = poolOf(b.PoolID);
    const prefix = b.PoolID.split('/')[1];
    if (b.Options?.RequestAddressType === 'com.docker.network.gateway') return { Address: `${ipv4(pool.base + 1)}/${prefix}`, Data: {} };
    const ip = ipv4(pool.base + pool.next);
    pool.next += hosts;
    return { Address: `${ip}/${prefix}`, Data: {} };
  },
  'NetworkDriver.CreateNetwork': async (b) => {
    const subnet: string = b.IPv4Data[0].Pool;
    networks.set(b.NetworkID, subnet);
    const copyOf: string | undefined = b.Options?.['com.docker.network.generic']?.['ts-overlay.id'];
    if (copyOf) return {}; // another host's copy: the record is there already
    await kv.txn({
      compare: [{ key: keys.network(b.NetworkID), modRevision: 0 }],
      put: [
        [keys.network(b.NetworkID), { id: b.NetworkID, vni: 4096, subnet }],
        [keys.pool(subnet), { subnet }],
      ],
    });
    return {};
  },
  'NetworkDriver.DeleteNetwork': () => ({}),
  'NetworkDriver.CreateEndpoint': (b) => {
    const [ip] = String(b.Interface.Address).split('/');
    const subnet = networks.get(b.NetworkID)!;
    const address = keys.address(subnet, ip!);
    const record = { id: b.EndpointID, network: b.NetworkID, node, ip, subnet, vtep: `198.18.0.1${host + 1}` };
    // ts-overlay answers CreateEndpoint at once too; Join waits for the transaction.
    const txn = kv.txnRevision({
      compare: [{ key: address, modRevision: 0 }, { key: keys.pool(subnet), exists: true }],
      put: [
        [keys.endpoint(b.NetworkID, b.EndpointID), record],
        [address, { kind: 'endpoint', ip, node }],
      ],
    });
    const both = Promise.all([txn, kernel ? kernel.port() : Promise.resolve('')]);
    both.catch(() => undefined); // Join reports it
    published.set(b.EndpointID, both);
    return { Interface: {} };
  },
  'NetworkDriver.Join': async (b) => {
    const [revision, port] = (await published.get(b.EndpointID)) ?? [undefined, ''];
    published.delete(b.EndpointID);
    if (revision === undefined) throw new Error('endpoint not published');
    return { InterfaceName: { SrcName: port, DstPrefix: 'eth' } };
  },
};

const app = Fastify();
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, String(body).trim() === '' ? {} : JSON.parse(String(body))));
for (const [call, handle] of Object.entries(routes)) {
  app.post(`/${call}`, async (req, reply) => {
    void reply.header('Content-Type', 'application/vnd.docker.plugins.v1.2+json');
    return (await handle((req.body ?? {}) as Body)) ?? {};
  });
}
app.setErrorHandler((err: Error, _req, reply) => void reply.code(200).send({ Err: err.message }));

// Both watches from the store's first revision: each lab is fresh, its history short.
kv.watch(keys.endpointsPrefix, 0, {
  onPut: (key, value) => {
    endpoints.set(key, value);
    const e = value as { node: string; ip: string; vtep: string };
    if (e.node !== node) kernel?.peer(e.ip, macOf(e.ip), e.vtep);
  },
  onDelete: (key) => void endpoints.delete(key),
  onResync: () => undefined,
});
kv.watch(keys.allAddressesPrefix, 0, {
  onPut: (key, value) => void claimed.set(key, value),
  onDelete: (key) => void claimed.delete(key),
  onResync: () => undefined,
});

try {
  unlinkSync(socket);
} catch {
  // not there
}
await app.listen({ path: socket });
process.on('SIGTERM', () => process.exit(0));
