import { randomUUID } from 'node:crypto';
import { IpamService } from '../../src/ipam/ipam-service.js';
import { parseCidr } from '../../src/ipam/cidr.js';
import { silentLogger } from '../../src/lib/logger.js';
import { ClusterStore } from '../../src/store/cluster-store.js';
import { EtcdKv } from '../../src/store/etcd-kv.js';

/** A store under a fresh key prefix, so tests never see each other's keys. */
export function freshStore(endpoint: string, prefix = `/test-${randomUUID()}/`) {
  const kv = new EtcdKv({ endpoints: [endpoint], prefix, callTimeoutMs: 5000 }, silentLogger);
  return { kv, store: new ClusterStore(kv, silentLogger), prefix };
}

/** One IPAM per simulated host, all sharing one prefix: the cluster, minus the kernels. */
export function ipamFor(store: ClusterStore, node: string, pool = '10.0.0.0/8', poolSize = 24) {
  return new IpamService(store, { node, defaultPool: parseCidr(pool)!, poolSize }, silentLogger);
}
