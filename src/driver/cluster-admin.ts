import { conflict, notFound } from '../lib/errors.js';
import type { ClusterStore } from '../store/cluster-store.js';
import { stillInUse } from './network-driver.js';

/**
 * Removes a network from the whole cluster by name, as `docker network rm` on one host does,
 * but refusing (instead of being restored later) while any host has endpoints on it. Every
 * host's plugin then removes its copy from its engine, and the last one frees the pool.
 */
export async function removeClusterNetwork(store: ClusterStore, name: string): Promise<string> {
  const { networks } = await store.listNetworks();
  const matches = networks.filter((n) => n.name === name || n.id === name);
  if (matches.length === 0) throw notFound(`no ts-overlay network named ${name}`);
  if (matches.length > 1) throw conflict(`${matches.length} networks are named ${name}; give the ID instead`);
  const net = matches[0]!;
  const { endpoints } = await store.listEndpoints(net.id);
  const hosts = [...new Set(endpoints.map((e) => e.node))].sort();
  if (hosts.length > 0) throw conflict(stillInUse(name, hosts));
  const entry = await store.getNetwork(net.id);
  if (!entry || !(await store.deleteNetwork(entry))) throw conflict(`network ${name} changed while being removed; try again`);
  return net.id;
}
