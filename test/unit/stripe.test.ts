import { describe, expect, it } from 'vitest';
import { STRIPE_SETTLE_MS, StripeTracker } from '../../src/ipam/stripe.js';

describe('StripeTracker', () => {
  it('places the host among the live nodes by name, itself counted even before it is listed', () => {
    const t = new StripeTracker('h2', () => ['h3', 'h1']);
    expect(t.current()).toMatchObject({ index: 1, count: 3 });
    expect(new StripeTracker('h1', () => []).current()).toMatchObject({ index: 0, count: 1 });
  });

  it('is settled only once the live nodes have stayed the same for STRIPE_SETTLE_MS', () => {
    let now = 1000;
    let nodes = ['h1', 'h2'];
    const t = new StripeTracker('h1', () => nodes, () => now);
    expect(t.current().settled).toBe(false); // first look: how long it held is unknown
    now += STRIPE_SETTLE_MS - 1;
    expect(t.current().settled).toBe(false);
    now += 1;
    expect(t.current()).toEqual({ index: 0, count: 2, settled: true });
    nodes = ['h1', 'h2', 'h0']; // a node came: h1 moves to place 1 of 3
    expect(t.current()).toEqual({ index: 1, count: 3, settled: false });
    now += STRIPE_SETTLE_MS;
    expect(t.current()).toEqual({ index: 1, count: 3, settled: true });
    nodes = ['h2', 'h1', 'h0']; // the same nodes in another order: no change
    expect(t.current().settled).toBe(true);
    expect(t.current()).toBe(t.current()); // settled and unchanged: the same object, nothing made per call
    nodes = ['h1', 'h0']; // a node went: h1 moves to place 1 of 2
    expect(t.current()).toEqual({ index: 1, count: 2, settled: false });
    nodes = ['h1', 'h3']; // as many nodes, another one among them
    expect(t.current()).toEqual({ index: 0, count: 2, settled: false });
  });
});
