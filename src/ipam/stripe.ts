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
  private lastNames = '';
  private changedAt = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly node: string,
    private readonly liveNodes: () => Iterable<string>,
    private readonly now: () => number = Date.now,
  ) {}

  current(): HostStripe {
    const names = [...new Set([this.node, ...this.liveNodes()])].sort();
    const key = names.join(' ');
    if (key !== this.lastNames) {
      // The first look counts as a change too: this process cannot know how long it has held.
      this.lastNames = key;
      this.changedAt = this.now();
    }
    return { index: names.indexOf(this.node), count: names.length, settled: this.now() - this.changedAt >= STRIPE_SETTLE_MS };
  }
}
