import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.js';
import { Dataplane } from './dataplane/dataplane.js';
import { defaultRouteAddress, underlayMtu, VXLAN_OVERHEAD } from './dataplane/host-info.js';
import { Runner } from './dataplane/runner.js';
import { SPARE_PORT_DEFAULTS } from './dataplane/spare-ports.js';
import { VxlanGuard, VxlanGuardKeeper } from './dataplane/vxlan-guard.js';
import { CryptoTunnel } from './dataplane/crypto-tunnel.js';
import { TunnelRules } from './dataplane/tunnel-rules.js';
import { EncryptionKeeper } from './driver/encryption.js';
import { rotationTiming } from './driver/key-schedule.js';
import { ResolverHost } from './dataplane/resolver-host.js';
import { DnsAnswerer } from './dns/answerer.js';
import { Forwarder, hostUpstreams } from './dns/forwarder.js';
import { feedNameTable } from './dns/name-feed.js';
import { NameTable } from './dns/name-table.js';
import { DnsResponder } from './dns/responder.js';
import { NamePublisher } from './driver/name-publisher.js';
import { EngineClient } from './docker/engine-client.js';
import { LocalState } from './driver/local-state.js';
import { NetworkDriver } from './driver/network-driver.js';
import { Membership } from './driver/membership.js';
import { PeerSync } from './driver/peer-sync.js';
import { Reconciler } from './driver/reconciler.js';
import { KernelMonitor } from './dataplane/monitor.js';
import { CallLimits } from './lib/call-limits.js';
import { Propagation } from './driver/propagation.js';
import { AddressBook } from './ipam/address-book.js';
import { StripeTracker } from './ipam/stripe.js';
import { IpamService } from './ipam/ipam-service.js';
import { formatPoolId } from './ipam/pool-id.js';
import { feedAddressBook } from './driver/address-feed.js';
import { errorMessage } from './lib/errors.js';
import type { Logger } from './lib/logger.js';
import { untilDone } from './lib/retry.js';
import { PluginMetrics } from './metrics/plugin-metrics.js';
import { serveMetrics, unixSocketProblem } from './metrics/serve-metrics.js';
import { apiRoutes } from './protocol/routes.js';
import type { PluginSocket } from './protocol/plugin-socket.js';
import { buildServer } from './protocol/server.js';
import { ClusterStore } from './store/cluster-store.js';
import { etcdConnection } from './store/etcd-connection.js';
import { EtcdKv } from './store/etcd-kv.js';
import { VERSION } from './version.js';

export interface RunningApp {
  readonly http: FastifyInstance;
  stop(): Promise<void>;
}

/** Bound on every etcd call: a Docker request never waits longer for an unreachable etcd. */
const ETCD_CALL_TIMEOUT_MS = 5000;

/**
 * Config in, running plugin out. The order matters: state is rebuilt from etcd and the
 * kernel, engine and etcd are reconciled before any call that touches state is answered, so
 * the engine never talks to a plugin that does not yet know what it owns. Kernel state is never torn down on
 * start or stop: running containers keep their connectivity across a plugin restart.
 * `socket` is already listening (serve opens it first: see PluginSocket); the API takes it over.
 */
export async function startApp(config: Config, log: Logger, socket: PluginSocket): Promise<RunningApp> {
  const run = new Runner();
  const vtep = config.advertiseAddr ?? (await defaultRouteAddress(run));
  // Read once at start: a changed underlay MTU takes a plugin restart (networks keep theirs).
  const ownUnderlayMtu = await underlayMtu(run, vtep);
  const defaultMtu = ownUnderlayMtu - VXLAN_OVERHEAD;
  const driverName = config.driverName;
  log.info({ node: config.nodeName, vtep, underlayMtu: ownUnderlayMtu, driverName, etcd: config.etcd, msSinceProcessStart: Math.round(process.uptime() * 1000) }, 'starting');

  // Its own registry: counts from the first etcd call on, whether or not --metrics-addr serves them.
  const metrics = new PluginMetrics({ processMetrics: true, version: VERSION });
  const kv = new EtcdKv({ ...etcdConnection(config, ETCD_CALL_TIMEOUT_MS), metrics }, log.child({ component: 'etcd' }));
  const store = new ClusterStore(kv, log.child({ component: 'store' }));
  const engine = new EngineClient(config.dockerHost);
  const innerPort = config.encryptionPort + 1;
  const dnsAddr = config.dns?.addr;
  const dataplane = new Dataplane(run, { vtep, port: config.vxlanPort, innerPort }, dnsAddr, { ...SPARE_PORT_DEFAULTS, max: config.sparePorts }, metrics);
  const local = new LocalState(defaultMtu);

  // Late-bound: membership events need the reconciler and peers, which need membership.
  let reconciler: Reconciler | undefined;
  let peers: PeerSync | undefined;
  let guard: VxlanGuardKeeper | undefined;
  let encryption: EncryptionKeeper | undefined;
  // Each live node allocates from its own stripe of a pool first: see AddressBook.startClaim.
  const stripes = new StripeTracker(config.nodeName, () => membership.liveNames());
  const membership = new Membership(
    { name: config.nodeName, vtep, underlayMtu: ownUnderlayMtu, version: VERSION, startedAt: new Date().toISOString() },
    config.nodeTtl,
    store,
    {
      onChange: () => {
        stripes.current(); // notes the change now rather than at the next RequestAddress
        peers?.markAllDirty();
        reconciler?.schedule('node membership changed');
        guard?.schedule();
        encryption?.schedule();
      },
      onReregistered: () => reconciler?.schedule('registered again'),
    },
    log.child({ component: 'membership' }),
  );
  const addressBook = new AddressBook();
  const ipam = new IpamService(
    store,
    {
      node: config.nodeName,
      defaultPool: config.defaultPool,
      poolSize: config.poolSize,
      stripe: () => stripes.current(),
      endpointOn: (subnet, ip) => local.endpointOn(subnet, ip)?.id,
    },
    log.child({ component: 'ipam' }),
    addressBook,
  );
  peers = new PeerSync(config.nodeName, store, dataplane, local, (node) => membership.isAlive(node), log.child({ component: 'peers' }), metrics);
  const driver = new NetworkDriver(
    { node: config.nodeName, vtep, vniRange: config.vniRange, underlayMtu: ownUnderlayMtu, liveNodes: () => membership.nodes(), ...(dnsAddr ? { resolverAddr: dnsAddr } : {}) },
    store, ipam, dataplane, local,
    (n) => peers?.markDirty(n.record.id, true),
    log.child({ component: 'driver' }),
  );
  // VXLAN accepted from live nodes only: a node registers before it sends its first VXLAN
  // packet, and one whose lease expired is dropped with its peers. Our own VTEP is always in.
  const vxlanGuard = new VxlanGuard(run, config.vxlanPort);
  if (config.vxlanGuard) {
    guard = new VxlanGuardKeeper(vxlanGuard, () => [vtep, ...membership.nodes().map((n) => n.vtep)], log.child({ component: 'vxlan-guard' }));
  }
  // Encrypted networks: a tunnel process sealing their VXLAN, with keys from etcd (driver/encryption.ts).
  const tunnel = new CryptoTunnel(
    { vtep, encPort: config.encryptionPort, innerPort, relayPortBase: 20000, relayPortSpan: 10000 },
    undefined,
    (why) => {
      log.error({ why }, 'encrypted tunnel stopped; starting it again');
      setTimeout(() => encryption?.schedule(), 1000).unref();
    },
  );
  encryption = new EncryptionKeeper(
    store, tunnel, new TunnelRules(run, innerPort),
    { encryptedHere: () => local.networks().some((n) => n.record.encrypted === true), peers: () => membership.nodes().map((n) => n.vtep) },
    rotationTiming(config.keyRotationInterval),
    log.child({ component: 'encryption' }),
  );
  local.onNetworksChanged(() => encryption?.schedule());
  reconciler = new Reconciler(config.nodeName, vtep, store, dataplane, local, engine, peers, membership, log.child({ component: 'reconcile' }), metrics, config.reconcileGrace * 1000, (pool) => ipam.releasePool(formatPoolId(pool)), (id) => driver.endpointWritePending(id));

  // The API answers on the socket from now on; every call that touches state waits for
  // `ready`: what this host had, from etcd, brought in line with the kernel and the engine.
  let markReady = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  const http = buildServer(
    apiRoutes({ driver, ipam, clusterNetwork: async (id) => (await store.getNetwork(id))?.value }),
    log,
    metrics,
    ready,
    new CallLimits({ maxInFlight: config.maxCallsInFlight, maxPerSecond: config.maxCallRate }),
    socket,
  );
  await http.ready();
  // Each start-up step is safe to repeat: while etcd is away it is retried, not fatal (the
  // socket is open, and calls that touch state are told the plugin is still starting).
  const retrying = (what: string) => (err: unknown, delayMs: number) => log.warn({ err: errorMessage(err), delayMs }, `start-up: ${what} failed; retrying`);
  /** A start-up step, timed in the debug log: where a slow start goes. */
  const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const began = performance.now();
    const result = await work();
    log.debug({ step: name, ms: Math.round(performance.now() - began) }, 'start-up step done');
    return result;
  };
  await step('register in etcd', () => membership.start());
  // The responder's address exists before the networks' routes name it as their source.
  const resolverHost = new ResolverHost(run);
  /** Number of changes made, or undefined when it failed (logged; the next periodic pass retries). */
  const ensureResolverHost = async (): Promise<number | undefined> => {
    try {
      if (dnsAddr) {
        const changes = await resolverHost.ensure(dnsAddr);
        if (changes > 0) log.info({ addr: dnsAddr, changes }, 'DNS responder address and host firewall in place');
        return changes;
      }
      const changes = await resolverHost.remove();
      if (changes > 0) log.info('DNS responder is off: removed its device, routes and firewall chain');
      return changes;
    } catch (err) {
      log.error({ err: errorMessage(err) }, 'could not set up the DNS responder address; retrying on the next periodic pass');
      return undefined;
    }
  };
  // The host's firewall and the first reads of etcd do not wait for each other (a restart
  // serves again that much sooner); both are done before the first reconcile pass.
  const [, addressFeed, mine] = await Promise.all([
    step('host firewall', async () => {
      if (guard) await guard.run(); // before serving: in line with the nodes etcd lists now
      else await vxlanGuard.remove().catch((err: unknown) => log.error({ err: errorMessage(err) }, 'could not remove the VXLAN guard chain'));
      await ensureResolverHost();
    }),
    step('read the addresses', () => untilDone(() => feedAddressBook(store, addressBook, log.child({ component: 'addresses' })), retrying('reading the addresses'))),
    step('read the endpoints', () => untilDone(() => store.listEndpoints(), retrying('reading the endpoints'))),
  ]);
  for (const e of mine.endpoints) if (e.node === config.nodeName) local.addEndpoint(e);
  await step('read the peers', () => untilDone(() => peers!.start(mine), retrying('reading the peers')));
  await step('first reconcile', () => reconciler!.firstPass());
  await step('encryption', async () => {
    await untilDone(() => encryption!.start(), retrying('reading the encryption keys'));
    await encryption!.run(); // before serving: encrypted networks carry traffic again at once
  });
  reconciler.markServing();
  markReady();
  log.info({ socket: config.socket, msSinceProcessStart: Math.round(process.uptime() * 1000) }, 'serving the plugin API');

  // Names: etcd -> this host's table -> the responder; this host's engine -> etcd.
  let names: { close(): Promise<void> } | undefined;
  let responder: DnsResponder | undefined;
  let publisher: NamePublisher | undefined;
  const startResponder = async (answerer: DnsAnswerer, addr: string) => {
    const r = new DnsResponder(answerer, addr, log.child({ component: 'dns' }));
    try {
      await r.start();
      responder = r;
      log.info({ addr }, 'DNS responder listening on UDP and TCP port 53');
    } catch (err) {
      await r.stop().catch(() => undefined);
      log.error({ err: errorMessage(err), addr }, 'DNS responder could not listen; retrying on the next periodic pass');
    }
  };
  let retryResponder: (() => Promise<void>) | undefined;
  if (config.dns) {
    const table = new NameTable();
    names = await untilDone(() => feedNameTable(store, table, log.child({ component: 'names' })), retrying('reading the names'));
    const upstreams = config.dns.upstream ?? hostUpstreams(config.dns.addr);
    if (upstreams.length === 0) log.warn('no upstream DNS server (--dns-upstream, or nameserver lines in /etc/resolv.conf): names that are not ts-overlay\'s get SERVFAIL');
    const answerer = new DnsAnswerer(table, new Forwarder(upstreams), metrics);
    const addr = config.dns.addr;
    retryResponder = async () => {
      if (!responder) await startResponder(answerer, addr);
    };
    await retryResponder();
    log.info({ upstreams: upstreams.map((u) => `${u.host}:${u.port}`) }, 'DNS: names that are not ts-overlay\'s are forwarded');
    publisher = new NamePublisher(config.nodeName, driverName, engine, store, local, driver.resolverRoutes, log.child({ component: 'names' }), config.reconcileInterval * 1000);
    publisher.start();
    void publisher.reconcile();
  }

  metrics.observeHost(() => ({ endpoints: local.endpoints().length, networks: local.networks().length, nodesAlive: membership.nodes().length }));
  const metricsListener = config.metricsAddr && (await serveMetrics(config.metricsAddr, metrics, {
    socketProblem: () => unixSocketProblem(http.server, config.socket),
    // Answered, and still listing this node: its lease is alive, other hosts send it traffic.
    probeEtcd: async () => ((await store.listNodes()).some((n) => n.name === config.nodeName)
      ? undefined
      : `node ${config.nodeName} has no record in etcd (its lease expired): other hosts treat it as dead until it registers again`),
  }, log.child({ component: 'metrics' })));

  const propagation = new Propagation(driverName, engine, store, log.child({ component: 'propagation' }), () => reconciler?.schedule('engine (re)connected'));
  await propagation.start();
  const monitor = new KernelMonitor(undefined, (what) => reconciler?.schedule(`kernel: ${what} deleted`), (name) => dataplane.linkDeleted(name), undefined, (vni, mac, dst) => peers?.wantsFdbEntry(vni, mac, dst) ?? true);
  monitor.start();
  // Periodic passes also put back guard rules someone flushed (netlink does not report that).
  const periodic = setInterval(() => {
    reconciler?.schedule('periodic');
    guard?.schedule();
    encryption?.schedule();
    if (dnsAddr) {
      // Put back an address, rule or chain someone removed; a reconcile puts back the
      // networks' routes in the responder's table if they went too.
      void ensureResolverHost().then(async (changes) => {
        if (changes === undefined) return;
        if (changes > 0) reconciler?.schedule('DNS responder address restored');
        await retryResponder?.();
      });
    }
  }, config.reconcileInterval * 1000);
  // The last start-up line: from here the host follows the cluster (scripts/lab waits for it).
  log.info({ reconcileIntervalS: config.reconcileInterval }, 'started: serving, following networks and names, reconciling periodically');

  return {
    http,
    async stop() {
      clearInterval(periodic);
      monitor.stop();
      if (metricsListener) await metricsListener.close();
      await http.close();
      await socket.close(); // the calls in progress finish first
      await reconciler?.stop(); // and a pass in progress: both use what closes below
      driver.stopRetries(); // what a failed DeleteNetwork or ReleasePool left: the next start's pass
      ipam.stopRetries();
      await dataplane.closeSpares(); // no Join can take one now
      await propagation.stop();
      await publisher?.stop();
      await responder?.stop();
      await names?.close();
      await peers?.stop();
      await addressFeed.close();
      await membership.stop();
      await guard?.stop(); // the rules stay: a restart must not open the VXLAN port
      await encryption?.stop(); // its drop rules stay too: nothing encrypted leaks in plaintext
      await driver.settleWrites(); // endpoints CreateEndpoint answered for reach etcd before it closes
      run.close();
      kv.close();
    },
  };
}
