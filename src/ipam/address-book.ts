import type { PoolRecord } from '../store/records.js';
import { type Cidr, formatCidr, parseCidr, parseIPv4 } from './cidr.js';
import { freeAddresses } from './allocation.js';

/** This host's share of the address space: addresses whose offset in the subnet is `index` mod `count`. */
export interface Stripe {
  readonly index: number;
  readonly count: number;
}

/** Whether the address is in the stripe: with one live host, every address is its own. */
export function inStripe(subnet: Cidr, ip: number, stripe: Stripe): boolean {
  return stripe.count <= 1 || (ip - subnet.base) % stripe.count === stripe.index;
}

/**
 * The pools, and which addresses of each are taken, as this host last heard from etcd (watches
 * feed it), plus the ones this process is claiming right now. Allocation picks candidates here
 * instead of reading the pool and listing its addresses on every request, and two requests of
 * this host never race each other for the same address. It may lag behind etcd: the claim's
 * transaction decides, and a claim that loses tells the book so.
 */
export class AddressBook {
  private readonly taken = new Map<string, Set<number>>(); // subnet -> addresses
  private readonly claiming = new Map<string, Set<number>>();
  private readonly pools = new Map<string, PoolRecord>(); // subnet -> record
  /**
   * Per subnet and way of searching it (range, stripe): an address below which nothing that
   * search would accept is free. A search starts there instead of at the subnet's first
   * address, so a pool filling up costs each allocation O(1) instead of a scan of every taken
   * address; anything that frees an address lowers it.
   */
  private readonly floors = new Map<string, Map<string, number>>();

  loadPools(records: Iterable<PoolRecord>): void {
    this.pools.clear();
    for (const r of records) this.pools.set(r.subnet, r);
  }

  setPool(record: PoolRecord): void {
    this.pools.set(record.subnet, record);
  }

  dropPool(subnet: string): void {
    this.pools.delete(subnet);
  }

  /** The pool as last heard; undefined when unknown here (ask etcd). */
  pool(subnet: string): PoolRecord | undefined {
    return this.pools.get(subnet);
  }

  /** Replaces everything with a full listing (at start and after a watch resync). */
  load(addresses: Iterable<{ subnet: string; ip: string }>): void {
    this.taken.clear();
    this.floors.clear();
    for (const a of addresses) this.add(a.subnet, a.ip);
  }

  add(subnet: string, ip: string): void {
    const n = parseIPv4(ip);
    if (n !== undefined) this.markTaken(subnet, n);
  }

  remove(subnet: string, ip: string): void {
    const n = parseIPv4(ip);
    if (n === undefined) return;
    this.taken.get(subnet)?.delete(n);
    this.freed(subnet, n);
    this.letGoIfIdle(subnet);
  }

  /**
   * Takes the lowest address that is neither taken nor being claimed here, and marks it as
   * being claimed; `done` must follow, whatever the claim's outcome. With a stripe, the lowest
   * such address of this host's stripe comes first: hosts allocating at the same moment then
   * reach for different addresses instead of racing for the same lowest one (and all but one
   * losing a round trip); when the stripe is full, any free address will do.
   */
  startClaim(subnet: string, range: Cidr | undefined, stripe?: Stripe): number | undefined {
    const cidr = parseCidr(subnet);
    if (!cidr) return undefined;
    const claiming = this.claiming.get(subnet) ?? new Set<number>();
    const taken = this.taken.get(subnet);
    const busy = { has: (ip: number) => claiming.has(ip) || (taken?.has(ip) ?? false) };
    const floors = this.floors.get(subnet) ?? new Map<string, number>();
    this.floors.set(subnet, floors);
    const where = range ? formatCidr(range) : '';
    const search = (key: string, wanted?: (ip: number) => boolean): number | undefined => {
      const found = freeAddresses(cidr, range, busy, 1, wanted, floors.get(key) ?? 0)[0];
      // Everything this search accepts below `found` is busy, and `found` is now claimed.
      if (found !== undefined) floors.set(key, found + 1);
      return found;
    };
    const ip =
      (stripe && stripe.count > 1
        ? search(`${where}|${stripe.index}/${stripe.count}`, (ip) => inStripe(cidr, ip, stripe))
        : undefined) ?? search(`${where}|any`);
    if (ip === undefined) return undefined;
    claiming.add(ip);
    this.claiming.set(subnet, claiming);
    return ip;
  }

  /** Ends a claim: taken when it won or when someone else holds the address. */
  done(subnet: string, ip: number, taken: boolean): void {
    this.claiming.get(subnet)?.delete(ip);
    if (taken) this.markTaken(subnet, ip);
    else if (!this.taken.get(subnet)?.has(ip)) this.freed(subnet, ip);
    this.letGoIfIdle(subnet);
  }

  /** The subnets this book keeps addresses, claims or search floors of (for the tests: what it has not let go). */
  heldSubnets(): string[] {
    return [...new Set([...this.taken.keys(), ...this.claiming.keys(), ...this.floors.keys()])].sort();
  }

  /**
   * A subnet with nothing taken and nothing being claimed leaves no entry behind: over months of
   * pools made and removed they would otherwise pile up. Its floors go too, which only means
   * its next search starts at its first address, as it would anyway.
   */
  private letGoIfIdle(subnet: string): void {
    if ((this.taken.get(subnet)?.size ?? 0) > 0 || (this.claiming.get(subnet)?.size ?? 0) > 0) return;
    this.taken.delete(subnet);
    this.claiming.delete(subnet);
    this.floors.delete(subnet);
  }

  private markTaken(subnet: string, ip: number): void {
    let set = this.taken.get(subnet);
    if (!set) this.taken.set(subnet, (set = new Set()));
    set.add(ip);
  }

  /** The address is free again: no search may start above it. */
  private freed(subnet: string, ip: number): void {
    const floors = this.floors.get(subnet);
    if (!floors) return;
    for (const [key, floor] of floors) if (floor > ip) floors.set(key, ip);
  }
}
