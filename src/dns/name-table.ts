import { contains, parseCidr, parseIPv4, type Cidr } from '../ipam/cidr.js';
import type { NameRecord } from '../store/records.js';

/**
 * Every container name of every ts-overlay network, as the DNS responder needs them, and the
 * rule that decides each answer. Pure: fed from etcd by name-feed.ts, asked by responder.ts.
 *
 * Scoping: subnets of ts-overlay networks never overlap in the cluster, so the source address
 * of a query names the asker's network. An asker is answered the names of its own network
 * only. A single-label name that belongs to another network is NXDOMAIN (it never leaves the
 * host); a dotted one is forwarded like any unknown name, so that an alias such as
 * db.example.com on one network never hides the real db.example.com from the others.
 * Askers outside every ts-overlay subnet (docker0 containers, the host) are only forwarded.
 */
export type Decision =
  | { readonly kind: 'a'; readonly ips: readonly string[] }
  | { readonly kind: 'ptr'; readonly names: readonly string[] }
  /** The name exists for the asker, with no record of the asked type (AAAA, MX, ...). */
  | { readonly kind: 'nodata' }
  | { readonly kind: 'nxdomain' }
  | { readonly kind: 'forward' };

export type QueryType = 'A' | 'AAAA' | 'PTR' | 'ANY' | string;

interface NetworkNames {
  subnet: Cidr;
  /** name -> endpoint IDs holding it (an alias may be shared). */
  readonly byName: Map<string, Set<string>>;
  readonly byEndpoint: Map<string, NameRecord>;
}

const REVERSE_SUFFIX = '.in-addr.arpa';

export class NameTable {
  private readonly networks = new Map<string, NetworkNames>();
  /** Names of records whose network is not (yet) known here; placed when it arrives. */
  private readonly orphans = new Map<string, NameRecord>();
  private readonly turns = new Map<string, number>();

  /** Replaces everything (a fresh listing from etcd). */
  load(networks: ReadonlyArray<{ id: string; subnet: string }>, records: readonly NameRecord[]): void {
    this.networks.clear();
    this.orphans.clear();
    for (const n of networks) this.setNetwork(n.id, n.subnet);
    for (const r of records) this.put(r);
  }

  setNetwork(id: string, subnet: string): void {
    const cidr = parseCidr(subnet);
    if (!cidr) return;
    const known = this.networks.get(id);
    if (known) {
      known.subnet = cidr;
      return;
    }
    this.networks.set(id, { subnet: cidr, byName: new Map(), byEndpoint: new Map() });
    for (const [key, r] of this.orphans) {
      if (r.network !== id) continue;
      this.orphans.delete(key);
      this.put(r);
    }
  }

  removeNetwork(id: string): void {
    this.networks.delete(id);
    for (const [key, r] of this.orphans) if (r.network === id) this.orphans.delete(key);
  }

  put(record: NameRecord): void {
    // A hand-written value must not poison lookups (nor throw: a watch delivers it).
    if (typeof record !== 'object' || record === null || typeof record.network !== 'string' || typeof record.endpoint !== 'string') return;
    if (typeof record.ip !== 'string' || parseIPv4(record.ip) === undefined || !Array.isArray(record.names)) return;
    const net = this.networks.get(record.network);
    if (!net) {
      this.orphans.set(`${record.network}/${record.endpoint}`, record);
      return;
    }
    this.remove(record.network, record.endpoint);
    const names = record.names.filter((n): n is string => typeof n === 'string').map(normalize).filter(isUsableName);
    const clean: NameRecord = { ...record, names };
    net.byEndpoint.set(record.endpoint, clean);
    for (const name of names) {
      let holders = net.byName.get(name);
      if (!holders) net.byName.set(name, (holders = new Set()));
      holders.add(record.endpoint);
    }
  }

  remove(network: string, endpoint: string): void {
    this.orphans.delete(`${network}/${endpoint}`);
    const net = this.networks.get(network);
    const old = net?.byEndpoint.get(endpoint);
    if (!net || !old) return;
    net.byEndpoint.delete(endpoint);
    for (const name of old.names) {
      const holders = net.byName.get(name);
      holders?.delete(endpoint);
      if (holders?.size === 0) net.byName.delete(name);
    }
  }

  /** The cluster network whose subnet holds `ip`, if any. */
  networkOf(ip: string): string | undefined {
    const addr = parseIPv4(ip);
    if (addr === undefined) return undefined;
    for (const [id, n] of this.networks) if (contains(n.subnet, addr)) return id;
    return undefined;
  }

  /** What to answer `source` asking for `name` (any case, trailing dot or not) of `type`. */
  decide(source: string, rawName: string, type: QueryType): Decision {
    const asker = this.networkOf(source);
    if (asker === undefined) return { kind: 'forward' };
    const name = normalize(rawName);
    if (name.endsWith(REVERSE_SUFFIX)) return this.reverse(asker, name, type);

    const own = this.networks.get(asker)!;
    const holders = own.byName.get(name);
    if (holders && holders.size > 0) {
      if (type !== 'A' && type !== 'ANY') return { kind: 'nodata' };
      const ips = [...new Set([...holders].map((e) => own.byEndpoint.get(e)!.ip))].sort();
      return { kind: 'a', ips: this.rotate(`${asker} ${name}`, ips) };
    }
    if (!name.includes('.') && this.knownElsewhere(asker, name)) return { kind: 'nxdomain' };
    return { kind: 'forward' };
  }

  /** Number of endpoint records held, over every network (for logs and tests). */
  size(): number {
    let n = 0;
    for (const net of this.networks.values()) n += net.byEndpoint.size;
    return n;
  }

  /** d.c.b.a.in-addr.arpa: answered for ts-overlay subnets, which no upstream knows. */
  private reverse(asker: string, name: string, type: QueryType): Decision {
    const ip = ipOfReverseName(name);
    if (ip === undefined) return { kind: 'forward' };
    const owner = this.networkOf(ip);
    if (owner === undefined) return { kind: 'forward' };
    if (owner !== asker) return { kind: 'nxdomain' };
    const names = [...this.networks.get(owner)!.byEndpoint.values()].filter((r) => r.ip === ip).map((r) => r.names[0]).filter((n): n is string => n !== undefined);
    if (names.length === 0) return { kind: 'nxdomain' };
    if (type !== 'PTR' && type !== 'ANY') return { kind: 'nodata' };
    return { kind: 'ptr', names: [...new Set(names)].sort() };
  }

  private knownElsewhere(asker: string, name: string): boolean {
    for (const [id, n] of this.networks) if (id !== asker && n.byName.has(name)) return true;
    return false;
  }

  /** Round robin: each answer for a shared name starts one address further. */
  private rotate(key: string, ips: string[]): string[] {
    if (ips.length < 2) return ips;
    const turn = this.turns.get(key) ?? 0;
    this.turns.set(key, (turn + 1) % 1_000_000);
    const k = turn % ips.length;
    return [...ips.slice(k), ...ips.slice(0, k)];
  }
}

export function normalize(name: string): string {
  return name.toLowerCase().replace(/\.+$/, '');
}

/** What DNS can carry: 1-253 characters, labels of 1-63, no spaces or control characters. */
function isUsableName(name: string): boolean {
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => l.length > 0 && l.length <= 63) && /^[\x21-\x7e]+$/.test(name);
}

/** "4.0.0.10.in-addr.arpa" -> "10.0.0.4"; undefined unless it names exactly one IPv4 address. */
export function ipOfReverseName(name: string): string | undefined {
  const labels = normalize(name).slice(0, -REVERSE_SUFFIX.length).split('.');
  if (labels.length !== 4 || !labels.every((l) => /^\d{1,3}$/.test(l) && String(Number(l)) === l && Number(l) <= 255)) return undefined;
  return labels.reverse().join('.');
}
