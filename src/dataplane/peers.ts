/**
 * What a VXLAN device must know about remote endpoints, and the pure diff between what the
 * kernel has and what the cluster says. Unicast FDB entries send a MAC to its host's VTEP;
 * all-zero entries replicate broadcast (ARP misses, DHCP-like traffic) to every remote VTEP
 * of the network; permanent neighbour entries let the device answer ARP itself (proxy).
 */
export const BROADCAST_MAC = '00:00:00:00:00:00';

export interface PeerState {
  /** MAC -> remote VTEP */
  readonly unicast: ReadonlyMap<string, string>;
  /** remote VTEPs that get a copy of broadcast frames */
  readonly flood: ReadonlySet<string>;
  /** IPv4 -> MAC */
  readonly neighbours: ReadonlyMap<string, string>;
}

export interface RemoteEndpoint {
  readonly mac: string;
  readonly ip: string;
  readonly vtep: string;
}

export function desiredPeers(remotes: Iterable<RemoteEndpoint>): PeerState {
  const unicast = new Map<string, string>();
  const flood = new Set<string>();
  const neighbours = new Map<string, string>();
  for (const r of remotes) {
    unicast.set(r.mac, r.vtep);
    flood.add(r.vtep);
    neighbours.set(r.ip, r.mac);
  }
  return { unicast, flood, neighbours };
}

export interface PeerChanges {
  readonly fdb: string[]; // `bridge -batch` lines
  readonly neigh: string[]; // `ip -batch` lines
  readonly count: number;
}

/** The commands that turn `actual` into `desired` on device `dev`; empty when they agree. */
export function diffPeers(dev: string, actual: PeerState, desired: PeerState): PeerChanges {
  const fdb: string[] = [];
  const neigh: string[] = [];
  for (const [mac, vtep] of actual.unicast) {
    if (!desired.unicast.has(mac)) fdb.push(`fdb del ${mac} dev ${dev} dst ${vtep} self`);
  }
  for (const vtep of actual.flood) {
    if (!desired.flood.has(vtep)) fdb.push(`fdb del ${BROADCAST_MAC} dev ${dev} dst ${vtep} self`);
  }
  for (const [ip, mac] of actual.neighbours) {
    if (!desired.neighbours.has(ip)) neigh.push(`neigh del ${ip} dev ${dev}`);
  }
  for (const [mac, vtep] of desired.unicast) {
    if (actual.unicast.get(mac) !== vtep) fdb.push(`fdb replace ${mac} dev ${dev} dst ${vtep} self permanent`);
  }
  for (const vtep of desired.flood) {
    if (!actual.flood.has(vtep)) fdb.push(`fdb append ${BROADCAST_MAC} dev ${dev} dst ${vtep} self permanent`);
  }
  for (const [ip, mac] of desired.neighbours) {
    if (actual.neighbours.get(ip) !== mac) neigh.push(`neigh replace ${ip} lladdr ${mac} dev ${dev} nud permanent`);
  }
  return { fdb, neigh, count: fdb.length + neigh.length };
}
