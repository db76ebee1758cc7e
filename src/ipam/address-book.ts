import { type Cidr, parseCidr, parseIPv4 } from './cidr.js';
import { freeAddresses } from './allocation.js';

/**
 * Which addresses of each pool are taken, as this host last heard from etcd (a watch feeds
 * it), plus the ones this process is claiming right now. Allocation picks candidates here
 * instead of listing the pool on every request, and two requests of this host never race
 * each other for the same address. It may lag behind etcd: a claim that loses tells it so.
 */
export class AddressBook {
  private readonly taken = new Map<string, Set<number>>(); // subnet -> addresses
  private readonly claiming = new Map<string, Set<number>>();

  /** Replaces everything with a full listing (at start and after a watch resync). */
  load(addresses: Iterable<{ subnet: string; ip: string }>): void {
    this.taken.clear();
    for (const a of addresses) this.add(a.subnet, a.ip);
  }

  add(subnet: string, ip: string): void {
    const n = parseIPv4(ip);
    if (n === undefined) return;
    let set = this.taken.get(subnet);
    if (!set) this.taken.set(subnet, (set = new Set()));
    set.add(n);
  }

  remove(subnet: string, ip: string): void {
    const n = parseIPv4(ip);
    if (n !== undefined) this.taken.get(subnet)?.delete(n);
  }

  forget(subnet: string): void {
    this.taken.delete(subnet);
  }

  /**
   * Takes the lowest address that is neither taken nor being claimed here, and marks it as
   * being claimed; `done` must follow, whatever the claim's outcome.
   */
  startClaim(subnet: string, range: Cidr | undefined): number | undefined {
    const cidr = parseCidr(subnet);
    if (!cidr) return undefined;
    const claiming = this.claiming.get(subnet) ?? new Set<number>();
    const busy = new Set([...(this.taken.get(subnet) ?? []), ...claiming]);
    const [ip] = freeAddresses(cidr, range, busy, 1);
    if (ip === undefined) return undefined;
    claiming.add(ip);
    this.claiming.set(subnet, claiming);
    return ip;
  }

  /** Ends a claim: taken when it won or when someone else holds the address. */
  done(subnet: string, ip: number, taken: boolean): void {
    this.claiming.get(subnet)?.delete(ip);
    if (taken) {
      let set = this.taken.get(subnet);
      if (!set) this.taken.set(subnet, (set = new Set()));
      set.add(ip);
    }
  }
}
