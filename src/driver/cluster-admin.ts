import { conflict, notFound } from '../lib/errors.js';
import { sleep } from '../lib/retry.js';
import type { ClusterStore } from '../store/cluster-store.js';
import type { NetworkRecord } from '../store/records.js';
import { stillInUse } from './network-driver.js';

/**
 * Removes a network from the whole cluster by name, as `docker network rm` on one host does,
 * but refusing (instead of being restored later) while any host has endpoints on it. Every
 * host's plugin then removes its copy from its engine, and the last one frees the pool.
 */
export async function removeClusterNetwork(store: ClusterStore, name: string): Promise<NetworkRecord> {
  const { networks } = await store.listNetworks();
  const matches = networks.filter((n) => n.name === name || n.id === name);
  if (matches.length === 0) throw notFound(`no ts-overlay network named ${name}`);
  if (matches.length > 1) throw conflict(`${matches.length} networks are named ${name}; give the ID instead`);
  const net = matches[0]!;
  const entry = await store.getNetwork(net.id);
  if (!entry) throw notFound(`no ts-overlay network named ${name}`);
  const { endpoints, revision } = await store.listEndpoints(net.id);
  const hosts = [...new Set(endpoints.map((e) => e.node))].sort();
  if (hosts.length > 0) throw conflict(stillInUse(name, hosts));
  if (!(await store.deleteNetwork(entry, { endpointsAt: revision }))) throw conflict(`network ${name} changed or got an endpoint while being removed; try again`);
  return net;
}

export interface PoolRelease {
  /** Live hosts that still held the subnet when the wait ended (empty: they all let go). */
  readonly live: readonly string[];
  /** Hosts without a node record: they let go of the subnet when their plugin comes back. */
  readonly away: readonly string[];
}

/**
 * Waits until every live host has let go of a removed network's subnet. Each host's engine
 * releases the pool only after its plugin removed the copy there (DeleteNetwork, then
 * ReleasePool), and a subnet stays taken until the last host has: a `docker network create`
 * of the same subnet right after the removal would otherwise be refused. Hosts that are down
 * are not waited for. The pool is compared by creation time, so a newer network of the same
 * subnet made meanwhile ends the wait.
 */
export async function waitForPoolRelease(store: ClusterStore, net: NetworkRecord, timeoutMs: number, pollMs = 200): Promise<PoolRelease> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pool = (await store.getPool(net.subnet))?.value;
    const holders = pool && pool.createdAt <= net.createdAt ? [...pool.users].sort() : [];
    const alive = new Set((await store.listNodes()).map((n) => n.name));
    const release = { live: holders.filter((h) => alive.has(h)), away: holders.filter((h) => !alive.has(h)) };
    if (release.live.length === 0 || Date.now() >= deadline) return release;
    await sleep(pollMs);
  }
}
