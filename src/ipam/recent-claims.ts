import { type AddressClaim, isUnwritten } from '../store/cluster-store.js';
import { addressKey } from './cidr.js';

/**
 * What RequestAddress left for the CreateEndpoint that follows it within milliseconds, by subnet
 * and address: the etcd revision of a claim it wrote (the transaction that publishes the
 * endpoint compares it, instead of reading the claim first), or the claim record it did not
 * write yet (that transaction writes it with the endpoint: one round trip per container
 * instead of two). Bounded in number and age: the oldest go first,
 * and `onDrop` hears of every entry that goes without being taken (evicted, expired,
 * forgotten). A claim not found here (a restart in between) is read from etcd instead.
 */
export class RecentClaims {
  private readonly claims = new Map<string, { subnet: string; ip: string; claim: AddressClaim; at: number }>();

  private readonly limit: number;
  private readonly maxAgeMs: number;
  private readonly onDrop: (subnet: string, ip: string, claim: AddressClaim) => void;
  private readonly now: () => number;

  constructor(options: {
    readonly limit?: number;
    readonly maxAgeMs?: number;
    readonly onDrop?: (subnet: string, ip: string, claim: AddressClaim) => void;
    readonly now?: () => number;
  } = {}) {
    this.limit = options.limit ?? 4096;
    this.maxAgeMs = options.maxAgeMs ?? 10 * 60_000;
    this.onDrop = options.onDrop ?? (() => {});
    this.now = options.now ?? Date.now;
  }

  remember(subnet: string, ip: string, claim: AddressClaim): void {
    const key = addressKey(subnet, ip);
    this.claims.delete(key); // re-inserted: the newest again
    this.claims.set(key, { subnet, ip, claim, at: this.now() });
    this.expire();
  }

  /** The claim, once: an endpoint is published from a claim only once. */
  take(subnet: string, ip: string): AddressClaim | undefined {
    const key = addressKey(subnet, ip);
    const entry = this.claims.get(key);
    this.claims.delete(key);
    return entry?.claim;
  }

  /** Whether a claim of the address is waiting here that etcd does not hold yet. */
  isUnwritten(subnet: string, ip: string): boolean {
    const entry = this.claims.get(addressKey(subnet, ip));
    return entry !== undefined && isUnwritten(entry.claim);
  }

  forget(subnet: string, ip: string): void {
    const key = addressKey(subnet, ip);
    const entry = this.claims.get(key);
    if (!entry) return;
    this.claims.delete(key);
    this.onDrop(subnet, ip, entry.claim);
  }

  get size(): number {
    return this.claims.size;
  }

  /** Drops the entries over the limit and those older than maxAgeMs (insertion order is age order). */
  private expire(): void {
    const oldest = this.now() - this.maxAgeMs;
    for (const [key, entry] of this.claims) {
      if (this.claims.size <= this.limit && entry.at >= oldest) break;
      this.claims.delete(key);
      this.onDrop(entry.subnet, entry.ip, entry.claim);
    }
  }
}
