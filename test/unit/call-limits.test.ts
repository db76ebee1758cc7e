import { describe, expect, it } from 'vitest';
import { CallLimits } from '../../src/lib/call-limits.js';

describe('CallLimits', () => {
  it('refuses a call over the in-flight bound until one ends', () => {
    const limits = new CallLimits({ maxInFlight: 2, maxPerSecond: 0 });
    expect(limits.acquire().ok).toBe(true);
    expect(limits.acquire().ok).toBe(true);
    const third = limits.acquire();
    expect(third).toEqual({ ok: false, why: expect.stringMatching(/2 calls in progress \(limit 2, --max-calls-in-flight\)/) });
    limits.release();
    expect(limits.acquire().ok).toBe(true);
  });

  it('lets a burst of one second pass, then the sustained rate', () => {
    let now = 0;
    const limits = new CallLimits({ maxInFlight: 0, maxPerSecond: 10 }, () => now);
    const take = (n: number) => Array.from({ length: n }, () => { const r = limits.acquire(); if (r.ok) limits.release(); return r.ok; }).filter(Boolean).length;
    expect(take(15)).toBe(10); // the bucket holds one second's worth
    now += 500;
    expect(take(15)).toBe(5); // half a second refills half
    now += 10_000;
    expect(take(15)).toBe(10); // never more than the bucket holds
    expect(limits.acquire()).toEqual({ ok: false, why: expect.stringMatching(/more than 10 calls per second \(--max-call-rate\)/) });
  });

  it('bounds nothing when both limits are 0', () => {
    const limits = new CallLimits({ maxInFlight: 0, maxPerSecond: 0 });
    for (let i = 0; i < 10_000; i++) expect(limits.acquire().ok).toBe(true);
  });
});
