import type { ClusterStore } from '../store/cluster-store.js';

/**
 * The overlay as a person draws it: hosts with their VTEPs, networks spanning hosts, and the
 * endpoints each host has on each network. Sorted, so every rendering is stable.
 */
export interface TopologyNode {
  readonly name: string;
  /** False for a host that still has copies or endpoints but no live lease. */
  readonly alive: boolean;
  readonly vtep?: string;
}
export interface TopologyNetwork {
  readonly id: string;
  /** The engine's name, or the ID's first 12 characters while the name is not yet known. */
  readonly name: string;
  readonly subnet: string;
  readonly vni: number;
  /** Hosts holding a copy of the network. */
  readonly hosts: readonly string[];
}
export interface TopologyEndpoint {
  readonly id: string;
  readonly network: string; // network id
  readonly node: string;
  readonly ip: string;
  readonly mac: string;
}
export interface Topology {
  readonly nodes: readonly TopologyNode[];
  readonly networks: readonly TopologyNetwork[];
  readonly endpoints: readonly TopologyEndpoint[];
}

/** What a topology names an endpoint by: etcd knows no container names, only endpoint IDs. */
export const endpointLabel = (e: TopologyEndpoint) => `${e.ip} ${e.id.slice(0, 12)}`;

/** Reads the cluster from etcd (the same records `ts-overlay status` reads; no kernel needed). */
export async function readTopology(store: ClusterStore): Promise<Topology> {
  const [{ networks }, live, copies, { endpoints }] = await Promise.all([store.listNetworks(), store.listNodes(), store.listCopies(), store.listEndpoints()]);
  const nodes = new Map<string, TopologyNode>(live.map((n) => [n.name, { name: n.name, alive: true, vtep: n.vtep }]));
  // A dead host is known by what it left behind; its VTEP from its endpoints, if it has any.
  for (const name of [...copies.map((c) => c.node), ...endpoints.map((e) => e.node)]) {
    if (!nodes.has(name)) {
      const vtep = endpoints.find((e) => e.node === name)?.vtep;
      nodes.set(name, vtep ? { name, alive: false, vtep } : { name, alive: false });
    }
  }
  const nets: TopologyNetwork[] = networks.map((n) => ({
    id: n.id,
    name: n.name ?? n.id.slice(0, 12),
    subnet: n.subnet,
    vni: n.vni,
    hosts: [...new Set(copies.filter((c) => c.network === n.id).map((c) => c.node))],
  }));
  // An endpoint whose network record is gone is shown anyway: that is exactly what to notice.
  for (const e of endpoints) {
    if (!nets.some((n) => n.id === e.network)) nets.push({ id: e.network, name: `${e.network.slice(0, 12)} (not in etcd)`, subnet: e.subnet, vni: 0, hosts: [] });
  }
  return buildTopology(
    [...nodes.values()],
    nets,
    endpoints.map((e) => ({ id: e.id, network: e.network, node: e.node, ip: e.ip, mac: e.mac })),
  );
}

/** Sorts everything: nodes and networks by name, endpoints by node, network and address. */
export function buildTopology(nodes: TopologyNode[], networks: TopologyNetwork[], endpoints: TopologyEndpoint[]): Topology {
  const byIp = (a: string, b: string) => ipNumber(a) - ipNumber(b);
  return {
    nodes: [...nodes].sort((a, b) => a.name.localeCompare(b.name)),
    networks: networks.map((n) => ({ ...n, hosts: [...n.hosts].sort() })).sort((a, b) => a.name.localeCompare(b.name) || a.vni - b.vni),
    endpoints: [...endpoints].sort((a, b) => a.node.localeCompare(b.node) || a.network.localeCompare(b.network) || byIp(a.ip, b.ip)),
  };
}

/** Networks present on a host: it holds a copy, or has endpoints on it (a copy being made). */
export function networksOn(t: Topology, node: string): TopologyNetwork[] {
  return t.networks.filter((n) => n.hosts.includes(node) || t.endpoints.some((e) => e.node === node && e.network === n.id));
}

export function endpointsOf(t: Topology, node: string, network: string): TopologyEndpoint[] {
  return t.endpoints.filter((e) => e.node === node && e.network === network);
}

/** Hosts a network spans, as drawn: its copies plus any host with endpoints on it. */
export function hostsOf(t: Topology, network: TopologyNetwork): string[] {
  return t.nodes.map((n) => n.name).filter((name) => networksOn(t, name).some((n) => n.id === network.id));
}

function ipNumber(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}
