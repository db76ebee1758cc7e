import type { Dataplane } from '../dataplane/dataplane.js';
import { endpointPortName, hostPortName, isSparePortName, vxlanName } from '../dataplane/names.js';
import { desiredPeers, diffPeers } from '../dataplane/peers.js';
import type { ClusterStore } from '../store/cluster-store.js';
import { isKeySet } from './key-schedule.js';

export interface NodeStatus {
  readonly name: string;
  readonly alive: boolean;
  readonly vtep?: string;
  readonly version?: string;
  readonly startedAt?: string;
}
export interface NetworkStatus {
  readonly id: string;
  readonly name: string;
  readonly subnet: string;
  readonly vni: number;
  readonly encrypted: boolean;
  readonly hosts: string[];
  readonly endpoints: number;
}
export interface EndpointStatus {
  readonly id: string;
  readonly network: string;
  readonly node: string;
  readonly ip: string;
  readonly mac: string;
}
export interface ClusterStatus {
  readonly node: string;
  readonly nodes: NodeStatus[];
  readonly networks: NetworkStatus[];
  readonly endpoints: EndpointStatus[];
  /** The cluster's encryption keys, without their secrets; undefined: none made yet. */
  readonly encryptionKeys?: { readonly ids: number[]; readonly primary: number; readonly primarySince: string };
  /** What this host's kernel lacks or has too much of, compared with etcd. */
  readonly drift: string[];
}

/** The cluster as etcd describes it, and this host's kernel compared with it. */
export async function clusterStatus(store: ClusterStore, dataplane: Dataplane, node: string): Promise<ClusterStatus> {
  const [{ networks }, liveNodes, copies, { endpoints }, { entry: keySet }] = await Promise.all([
    store.listNetworks(),
    store.listNodes(),
    store.listCopies(),
    store.listEndpoints(),
    store.getKeySet(),
  ]);
  const known = new Set([...copies.map((c) => c.node), ...endpoints.map((e) => e.node)]);
  const nodes: NodeStatus[] = [
    ...liveNodes.map((n) => ({ name: n.name, alive: true, vtep: n.vtep, version: n.version, startedAt: n.startedAt })),
    ...[...known].filter((n) => !liveNodes.some((l) => l.name === n)).map((name) => ({ name, alive: false })),
  ].sort((a, b) => a.name.localeCompare(b.name));
  const nameOf = new Map(networks.map((n) => [n.id, n.name ?? n.id.slice(0, 12)]));

  const drift: string[] = [];
  const own = await dataplane.ownDevices();
  const alive = new Set(liveNodes.map((n) => n.name));
  const mine = copies.filter((c) => c.node === node);
  for (const copy of mine) {
    const net = networks.find((n) => n.id === copy.network);
    if (!net) {
      drift.push(`copy of removed network ${copy.network.slice(0, 12)} still recorded for ${node}`);
      continue;
    }
    const label = `${nameOf.get(net.id)} (VNI ${net.vni})`;
    if (!own.hostPorts.has(net.vni)) drift.push(`${label}: host port ${hostPortName(net.vni)} missing`);
    if (!own.vxlans.has(net.vni)) {
      drift.push(`${label}: VXLAN device ${vxlanName(net.vni)} missing`);
      continue;
    }
    const remotes = endpoints.filter((e) => e.network === net.id && e.node !== node && alive.has(e.node));
    const changes = diffPeers(vxlanName(net.vni), await dataplane.readPeers(net.vni), desiredPeers(remotes));
    for (const line of [...changes.fdb, ...changes.neigh]) drift.push(`${label}: kernel needs "${line}"`);
  }
  const vnis = new Set(networks.filter((n) => mine.some((c) => c.network === n.id)).map((n) => n.vni));
  for (const vni of new Set([...own.hostPorts, ...own.vxlans])) if (!vnis.has(vni)) drift.push(`devices of VNI ${vni} belong to no network of ${node}`);
  const portNames = new Set(endpoints.filter((e) => e.node === node).map((e) => endpointPortName(e.id)));
  // Spares (tsp-*) belong to no endpoint until a Join hands one out; the plugin's own reconcile
  // removes any it does not hold, which this separate process cannot tell apart.
  for (const name of own.endpointPorts) if (!portNames.has(name) && !isSparePortName(name)) drift.push(`interface ${name} belongs to no endpoint of ${node}`);
  for (const name of own.legacy) drift.push(`${name} is a device of an earlier build (the next reconcile removes it)`);

  return {
    node,
    nodes,
    networks: networks.map((n) => ({
      id: n.id,
      name: nameOf.get(n.id)!,
      subnet: n.subnet,
      vni: n.vni,
      encrypted: n.encrypted === true,
      hosts: copies.filter((c) => c.network === n.id).map((c) => c.node).sort(),
      endpoints: endpoints.filter((e) => e.network === n.id).length,
    })),
    endpoints: endpoints.map((e) => ({ id: e.id, network: nameOf.get(e.network) ?? e.network, node: e.node, ip: e.ip, mac: e.mac })),
    ...(keySet && isKeySet(keySet.value) ? { encryptionKeys: { ids: keySet.value.keys.map((k) => k.id), primary: keySet.value.primary, primarySince: keySet.value.primarySince } } : {}),
    drift,
  };
}
