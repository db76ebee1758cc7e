/**
 * The etcd revisions of the address claims this process made lately, by subnet and address.
 * CreateEndpoint follows RequestAddress within milliseconds: with the claim's revision at hand,
 * publishing the endpoint compares it in the same transaction instead of reading the claim
 * first (one etcd round trip less per container). Bounded: the oldest go first, and a claim not
 * found here (a restart in between, or many claims never used) is simply read from etcd.
 */
export class RecentClaims {
  private readonly revisions = new Map<string, number>();

  constructor(private readonly limit = 4096) {}

  remember(subnet: string, ip: string, revision: number): void {
    const key = keyOf(subnet, ip);
    this.revisions.delete(key); // re-inserted: the newest again
    this.revisions.set(key, revision);
    if (this.revisions.size > this.limit) this.revisions.delete(this.revisions.keys().next().value!);
  }

  /** The claim's revision, once: an endpoint is published from a claim only once. */
  take(subnet: string, ip: string): number | undefined {
    const key = keyOf(subnet, ip);
    const revision = this.revisions.get(key);
    this.revisions.delete(key);
    return revision;
  }

  forget(subnet: string, ip: string): void {
    this.revisions.delete(keyOf(subnet, ip));
  }

  get size(): number {
    return this.revisions.size;
  }
}

const keyOf = (subnet: string, ip: string) => `${subnet} ${ip}`;
