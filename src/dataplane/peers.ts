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

/**
 * What a device must hold for these remote endpoints, by the same rule as the plugin's own
 * programming (PeerTable): `ts-overlay status` then reports no drift where there is none, even
 * when two endpoints share a MAC or an address.
 */
export function desiredPeers(remotes: Iterable<RemoteEndpoint & { readonly id: string }>): PeerState {
  const table = new PeerTable();
  for (const r of remotes) table.set(r.id, r);
  return table.takeState();
}

export interface PeerChanges {
  readonly fdb: string[]; // `bridge -batch` lines
  readonly neigh: string[]; // `ip -batch` lines
  readonly count: number;
}

/** The commands that turn `actual` into `desired` on device `dev`; empty when they agree. */
export function diffPeers(dev: string, actual: PeerState, desired: PeerState): PeerChanges {
  // Every entry either side has, as a delta to `desired`: what is not there must go.
  const delta: PeerDelta = {
    unicast: new Map([...actual.unicast.keys(), ...desired.unicast.keys()].map((mac) => [mac, desired.unicast.get(mac)])),
    flood: new Map([...actual.flood, ...desired.flood].map((vtep) => [vtep, desired.flood.has(vtep)])),
    neighbours: new Map([...actual.neighbours.keys(), ...desired.neighbours.keys()].map((ip) => [ip, desired.neighbours.get(ip)])),
  };
  return diffDelta(dev, actual, delta);
}

/** What some entries must now be: undefined (or false) where the entry must go. */
export interface PeerDelta {
  /** MAC -> remote VTEP */
  readonly unicast: ReadonlyMap<string, string | undefined>;
  /** remote VTEP -> whether it gets a copy of broadcast frames */
  readonly flood: ReadonlyMap<string, boolean>;
  /** IPv4 -> MAC */
  readonly neighbours: ReadonlyMap<string, string | undefined>;
}

/** A PeerState that a pass of incremental programming brings up to date as it goes. */
export interface MutablePeerState {
  readonly unicast: Map<string, string>;
  readonly flood: Set<string>;
  readonly neighbours: Map<string, string>;
}

export const copyPeerState = (s: PeerState): MutablePeerState => ({ unicast: new Map(s.unicast), flood: new Set(s.flood), neighbours: new Map(s.neighbours) });

/**
 * The commands that bring the entries `delta` names from `actual` to what it says (removals
 * first); nothing for entries it does not name.
 */
export function diffDelta(dev: string, actual: PeerState, delta: PeerDelta): PeerChanges {
  const fdb: string[] = [];
  const neigh: string[] = [];
  for (const [mac, vtep] of delta.unicast) {
    const had = actual.unicast.get(mac);
    if (vtep === undefined && had !== undefined) fdb.push(`fdb del ${mac} dev ${dev} dst ${had} self`);
  }
  for (const [vtep, wanted] of delta.flood) {
    if (!wanted && actual.flood.has(vtep)) fdb.push(`fdb del ${BROADCAST_MAC} dev ${dev} dst ${vtep} self`);
  }
  for (const [ip, mac] of delta.neighbours) {
    if (mac === undefined && actual.neighbours.has(ip)) neigh.push(`neigh del ${ip} dev ${dev}`);
  }
  for (const [mac, vtep] of delta.unicast) {
    if (vtep !== undefined && actual.unicast.get(mac) !== vtep) fdb.push(`fdb replace ${mac} dev ${dev} dst ${vtep} self permanent`);
  }
  for (const [vtep, wanted] of delta.flood) {
    if (wanted && !actual.flood.has(vtep)) fdb.push(`fdb append ${BROADCAST_MAC} dev ${dev} dst ${vtep} self permanent`);
  }
  for (const [ip, mac] of delta.neighbours) {
    if (mac !== undefined && actual.neighbours.get(ip) !== mac) neigh.push(`neigh replace ${ip} lladdr ${mac} dev ${dev} nud permanent`);
  }
  return { fdb, neigh, count: fdb.length + neigh.length };
}

/** Makes `state` say what `delta` says for the entries it names. */
export function patchPeerState(state: MutablePeerState, delta: PeerDelta): void {
  for (const [mac, vtep] of delta.unicast) {
    if (vtep === undefined) state.unicast.delete(mac);
    else state.unicast.set(mac, vtep);
  }
  for (const [vtep, wanted] of delta.flood) {
    if (wanted) state.flood.add(vtep);
    else state.flood.delete(vtep);
  }
  for (const [ip, mac] of delta.neighbours) {
    if (mac === undefined) state.neighbours.delete(ip);
    else state.neighbours.set(ip, mac);
  }
}

/**
 * One network's remote endpoints, kept as they come and go, and what its VXLAN device must
 * hold for them. It notes which MACs, addresses and VTEPs each change touched, so that a pass
 * programs only those (takeDelta) rather than comparing every entry of the network: an
 * endpoint's arrival then costs the same in a network of ten endpoints or of ten thousand.
 * (Rebuilding the whole state on every pass made a network's N arrivals cost N^2 / 2 map
 * operations, the largest share of ts-overlay's own CPU when endpoints came one at a time.)
 * Two endpoints with one MAC or one address (a fault, or a moment of a move): the one with
 * the greater key is the entry, whichever came first, in takeState() and takeDelta() alike.
 */
export class PeerTable {
  private readonly remotes = new Map<string, RemoteEndpoint>();
  private readonly byMac = new Map<string, Set<string>>();
  private readonly byIp = new Map<string, Set<string>>();
  private readonly byVtep = new Map<string, Set<string>>();
  private touched = noneTouched();

  /** The endpoint under `key` is now `remote` (undefined: gone, or no longer a peer). Returns whether anything changed. */
  set(key: string, remote: RemoteEndpoint | undefined): boolean {
    const before = this.remotes.get(key);
    if (before === remote || (before && remote && before.mac === remote.mac && before.ip === remote.ip && before.vtep === remote.vtep)) return false;
    if (before) {
      this.remotes.delete(key);
      unindex(this.byMac, before.mac, key);
      unindex(this.byIp, before.ip, key);
      unindex(this.byVtep, before.vtep, key);
      this.touch(before);
    }
    if (remote) {
      const copy = { mac: remote.mac, ip: remote.ip, vtep: remote.vtep };
      this.remotes.set(key, copy);
      index(this.byMac, copy.mac, key);
      index(this.byIp, copy.ip, key);
      index(this.byVtep, copy.vtep, key);
      this.touch(copy);
    }
    return true;
  }

  /** Holds no endpoint. */
  isEmpty(): boolean {
    return this.remotes.size === 0;
  }

  /** Everything the device must hold; the changes noted so far are then no longer pending. */
  takeState(): PeerState {
    this.touched = noneTouched();
    const unicast = new Map([...this.byMac.keys()].map((mac) => [mac, this.holder(this.byMac, mac)!.vtep]));
    const neighbours = new Map([...this.byIp.keys()].map((ip) => [ip, this.holder(this.byIp, ip)!.mac]));
    return { unicast, flood: new Set(this.byVtep.keys()), neighbours };
  }

  /** What the entries touched since the last takeState() or takeDelta() must now be. */
  takeDelta(): PeerDelta {
    const { macs, ips, vteps } = this.touched;
    this.touched = noneTouched();
    return {
      unicast: new Map([...macs].map((mac) => [mac, this.holder(this.byMac, mac)?.vtep])),
      flood: new Map([...vteps].map((vtep) => [vtep, this.byVtep.has(vtep)])),
      neighbours: new Map([...ips].map((ip) => [ip, this.holder(this.byIp, ip)?.mac])),
    };
  }

  /** Whether the device must hold the FDB entry `mac` -> `vtep` (the broadcast MAC: flooding to that VTEP). */
  wants(mac: string, vtep: string): boolean {
    return mac === BROADCAST_MAC ? this.byVtep.has(vtep) : this.holder(this.byMac, mac)?.vtep === vtep;
  }

  /** The endpoint an entry goes to: of those holding `value` in `index`, the greatest key's. */
  private holder(index: Map<string, Set<string>>, value: string): RemoteEndpoint | undefined {
    const keys = index.get(value);
    return keys && this.remotes.get(greatest(keys));
  }

  private touch(r: RemoteEndpoint): void {
    this.touched.macs.add(r.mac);
    this.touched.ips.add(r.ip);
    this.touched.vteps.add(r.vtep);
  }
}

const noneTouched = () => ({ macs: new Set<string>(), ips: new Set<string>(), vteps: new Set<string>() });

function index(map: Map<string, Set<string>>, value: string, key: string): void {
  const keys = map.get(value);
  if (keys) keys.add(key);
  else map.set(value, new Set([key]));
}

function unindex(map: Map<string, Set<string>>, value: string, key: string): void {
  const keys = map.get(value);
  keys?.delete(key);
  if (keys?.size === 0) map.delete(value);
}

/** The greatest of a non-empty set of keys (almost always a set of one). */
function greatest(keys: Set<string>): string {
  let best: string | undefined;
  for (const k of keys) if (best === undefined || k > best) best = k;
  return best!;
}
