import type { Stripe } from './address-book.js';

/** How long the live nodes must stay the same before a host trusts that every host sees its stripe as it does. */
export const STRIPE_SETTLE_MS = 2000;

export interface HostStripe extends Stripe {
  /**
   * The live nodes have not changed for STRIPE_SETTLE_MS: every host has heard of the last
   * change (watches deliver in milliseconds) and computes the same stripes, so no other host
   * picks from this one. Right after a node came or went, two hosts may briefly disagree.
   */
  readonly settled: boolean;
}

/**
 * This host's share of every pool's addresses: the live nodes' names sorted, each host taking
 * the offsets equal to its place modulo their number (see AddressBook.startClaim).
 */
export class StripeTracker {
  /** The nodes the stripe was last computed from (this host among them), and that stripe. */
  private names = new Set<string>();
  private stripe: HostStripe | undefined;
  private changedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly node: string,
    /** The live nodes' names, each once (this host may be among them or not). */
    private readonly liveNodes: () => Iterable<string>,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Called by every RequestAddress: while the live nodes stay the same it only compares them
   * with the last ones, and once settled returns the same object, allocating nothing.
   */
  current(): HostStripe {
    if (!this.stripe || !this.sameNodes()) {
      // The first look counts as a change too: this process cannot know how long it has held.
      this.names = new Set([this.node, ...this.liveNodes()]);
      const sorted = [...this.names].sort();
      this.stripe = { index: sorted.indexOf(this.node), count: sorted.length, settled: false };
      this.changedAt = this.now();
    }
    if (!this.stripe.settled && this.now() - this.changedAt >= STRIPE_SETTLE_MS) this.stripe = { ...this.stripe, settled: true };
    return this.stripe;
  }

  private sameNodes(): boolean {
    let count = 1; // this host, always among them
    for (const name of this.liveNodes()) {
      if (!this.names.has(name)) return false;
      if (name !== this.node) count++;
    }
    return count === this.names.size;
  }
}
