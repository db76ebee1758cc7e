import { basename } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.js';
import { Dataplane } from './dataplane/dataplane.js';
import { defaultRouteAddress, underlayMtu, VXLAN_OVERHEAD } from './dataplane/host-info.js';
import { Runner } from './dataplane/runner.js';
import { EngineClient } from './docker/engine-client.js';
import { LocalState } from './driver/local-state.js';
import { NetworkDriver } from './driver/network-driver.js';
import { PeerSync } from './driver/peer-sync.js';
import { Propagation } from './driver/propagation.js';
import { IpamService } from './ipam/ipam-service.js';
import type { Logger } from './lib/logger.js';
import { apiRoutes } from './protocol/routes.js';
import { buildServer, listenOnSocket } from './protocol/server.js';
import { ClusterStore } from './store/cluster-store.js';
import { EtcdKv } from './store/etcd-kv.js';
import { VERSION } from './version.js';

export interface RunningApp {
  readonly http: FastifyInstance;
  stop(): Promise<void>;
}

/** Bound on every etcd call: a Docker request never waits longer for an unreachable etcd. */
const ETCD_CALL_TIMEOUT_MS = 5000;
const NODE_LEASE_SECONDS = 15;

/**
 * Config in, running plugin out. The order matters: state is rebuilt from etcd and the
 * kernel is brought in line before the socket appears, so the engine never talks to a
 * plugin that does not yet know what it owns.
 */
export async function startApp(config: Config, log: Logger): Promise<RunningApp> {
  const run = new Runner();
  const vtep = config.advertiseAddr ?? (await defaultRouteAddress(run));
  const defaultMtu = (await underlayMtu(run, vtep)) - VXLAN_OVERHEAD;
  const driverName = basename(config.socket, '.sock');
  log.info({ node: config.nodeName, vtep, defaultMtu, driverName, etcd: config.etcd }, 'starting');

  const kv = new EtcdKv({ endpoints: config.etcd, prefix: '/ts-overlay/', callTimeoutMs: ETCD_CALL_TIMEOUT_MS }, log.child({ component: 'etcd' }));
  const store = new ClusterStore(kv, log.child({ component: 'store' }));
  const lease = await store.registerNode({ name: config.nodeName, vtep, version: VERSION, startedAt: new Date().toISOString() }, NODE_LEASE_SECONDS);

  const dataplane = new Dataplane(run, { vtep, port: config.vxlanPort });
  const local = new LocalState();
  const ipam = new IpamService(store, { node: config.nodeName, defaultPool: config.defaultPool, poolSize: config.poolSize }, log.child({ component: 'ipam' }));
  const peers = new PeerSync(config.nodeName, store, dataplane, local, log.child({ component: 'peers' }));
  const driver = new NetworkDriver(
    { node: config.nodeName, vtep, vniRange: config.vniRange, defaultMtu },
    store, ipam, dataplane, local,
    (n) => peers.markDirty(n.record.id),
    log.child({ component: 'driver' }),
  );

  await restoreLocalState(store, dataplane, local, config.nodeName, defaultMtu, log);
  await peers.start();

  const http = buildServer(
    apiRoutes({ driver, ipam, clusterSubnet: async (id) => (await store.getNetwork(id))?.value.subnet }),
    log,
  );
  await listenOnSocket(http, config.socket);
  log.info({ socket: config.socket }, 'serving the plugin API');

  const propagation = new Propagation(driverName, config.nodeName, new EngineClient(config.dockerHost), store, log.child({ component: 'propagation' }));
  await propagation.start();

  return {
    http,
    async stop() {
      await http.close();
      await propagation.stop();
      await peers.stop();
      await lease.revoke().catch(() => undefined);
      kv.close();
    },
  };
}

/** After a restart: what this host had, from etcd, with its devices made sure of. */
async function restoreLocalState(store: ClusterStore, dataplane: Dataplane, local: LocalState, node: string, defaultMtu: number, log: Logger) {
  const copies = await store.listCopies(node);
  for (const copy of copies) {
    const entry = await store.getNetwork(copy.network);
    if (!entry) {
      await store.deleteCopy(node, copy.engineNetworkId);
      continue;
    }
    const mtu = entry.value.mtu ?? defaultMtu;
    await dataplane.ensureNetwork({ vni: entry.value.vni, mtu });
    local.addNetwork({ engineId: copy.engineNetworkId, record: entry.value, mtu });
  }
  const { endpoints } = await store.listEndpoints();
  for (const e of endpoints) if (e.node === node) local.addEndpoint(e);
  if (copies.length > 0) log.info({ networks: local.networks().length }, 'restored local networks from etcd');
}
