import { randomUUID } from 'node:crypto';
import { IpamService } from '../../src/ipam/ipam-service.js';
import { parseCidr } from '../../src/ipam/cidr.js';
import { silentLogger } from '../../src/lib/logger.js';
import { ClusterStore } from '../../src/store/cluster-store.js';
import { EtcdKv } from '../../src/store/etcd-kv.js';
import type { NetworkRecord } from '../../src/store/records.js';

/** A store under a fresh key prefix, so tests never see each other's keys. */
export function freshStore(endpoint: string, prefix = `/test-${randomUUID()}/`) {
  const kv = new EtcdKv({ endpoints: [endpoint], prefix, callTimeoutMs: 5000 }, silentLogger);
  return { kv, store: new ClusterStore(kv, silentLogger), prefix };
}

/** One IPAM per simulated host, all sharing one prefix: the cluster, minus the kernels. */
export function ipamFor(store: ClusterStore, node: string, pool = '10.0.0.0/8', poolSize = 24) {
  return new IpamService(store, { node, defaultPool: parseCidr(pool)!, poolSize }, silentLogger);
}

/**
 * A cluster network on 10.0.0.0/24 held by two simulated hosts, as the cluster makes one: the
 * first host's IPAM ("h1") takes the pool, the network's record is written against it, and the
 * second host's IPAM joins the pool as a copy (RequestPool with the cluster network).
 */
export async function sharedNetwork(store: ClusterStore, [first, second]: readonly [IpamService, IpamService], net: { id: string; vni: number; name?: string }) {
  const { poolId, subnet } = await first.requestPool({ pool: '10.0.0.0/24' });
  const network: NetworkRecord = {
    ...net, subnet, gateway: '10.0.0.1/24', auxAddresses: {}, options: {}, internal: false, attachable: false, labels: {}, createdBy: 'h1', createdAt: new Date().toISOString(),
  };
  if (!(await store.createNetwork(network, (await store.getPool(subnet))!))) throw new Error(`network ${net.id} was not created`);
  await second.requestPool({ clusterNetwork: network });
  return { network, poolId };
}
