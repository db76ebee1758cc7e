import { describe, expect, it } from 'vitest';
import { RecentClaims } from '../../src/ipam/recent-claims.js';
import type { AddressClaim } from '../../src/store/cluster-store.js';

const record = (ip: string) => ({ ip, kind: 'endpoint' as const, node: 'h1', claimedAt: new Date(0).toISOString() });
const unwritten = (ip: string): AddressClaim => ({ record: record(ip) });
const written = (revision: number): AddressClaim => ({ revision, record: record('10.0.0.2') });

describe('RecentClaims', () => {
  it('hands a claim out once, per subnet and address', () => {
    const c = new RecentClaims();
    c.remember('10.0.0.0/24', '10.0.0.2', written(41));
    c.remember('10.0.1.0/24', '10.0.0.2', written(42)); // same address, another subnet
    expect(c.take('10.0.0.0/24', '10.0.0.2')).toEqual(written(41));
    expect(c.take('10.0.0.0/24', '10.0.0.2')).toBeUndefined();
    expect(c.take('10.0.1.0/24', '10.0.0.2')).toEqual(written(42));
  });

  it('forgets a released address, telling onDrop; keeps the newest claim of one claimed again', () => {
    const dropped: string[] = [];
    const c = new RecentClaims({ maxAgeMs: 60_000, onDrop: (_subnet, ip) => dropped.push(ip) });
    c.remember('10.0.0.0/24', '10.0.0.2', written(7));
    c.forget('10.0.0.0/24', '10.0.0.2');
    c.forget('10.0.0.0/24', '10.0.0.9'); // never there: nothing to tell
    expect(c.take('10.0.0.0/24', '10.0.0.2')).toBeUndefined();
    expect(dropped).toEqual(['10.0.0.2']);
    c.remember('10.0.0.0/24', '10.0.0.3', written(8));
    c.remember('10.0.0.0/24', '10.0.0.3', written(9));
    expect(c.size).toBe(1);
    expect(c.take('10.0.0.0/24', '10.0.0.3')).toEqual(written(9));
    expect(dropped).toEqual(['10.0.0.2']); // taken, not dropped
  });

  it('drops the oldest claims beyond its limit, telling onDrop', () => {
    const dropped: string[] = [];
    const c = new RecentClaims({ limit: 3, maxAgeMs: 60_000, onDrop: (_subnet, ip) => dropped.push(ip) });
    for (let i = 1; i <= 4; i++) c.remember('10.0.0.0/24', `10.0.0.${i}`, written(i));
    c.remember('10.0.0.0/24', '10.0.0.2', written(20)); // touched again: now the newest
    c.remember('10.0.0.0/24', '10.0.0.5', written(5));
    expect(c.size).toBe(3);
    expect(dropped).toEqual(['10.0.0.1', '10.0.0.3']);
    expect([c.take('10.0.0.0/24', '10.0.0.4'), c.take('10.0.0.0/24', '10.0.0.2'), c.take('10.0.0.0/24', '10.0.0.5')]).toEqual([written(4), written(20), written(5)]);
  });

  it('drops claims older than its maximum age, and tells an unwritten claim from a written one', () => {
    let now = 0;
    const dropped: string[] = [];
    const c = new RecentClaims({ maxAgeMs: 1000, onDrop: (_subnet, ip) => dropped.push(ip), now: () => now });
    c.remember('10.0.0.0/24', '10.0.0.2', unwritten('10.0.0.2'));
    c.remember('10.0.0.0/24', '10.0.0.3', written(3));
    expect(c.isUnwritten('10.0.0.0/24', '10.0.0.2')).toBe(true);
    expect(c.isUnwritten('10.0.0.0/24', '10.0.0.3')).toBe(false);
    now = 900;
    c.remember('10.0.0.0/24', '10.0.0.4', unwritten('10.0.0.4'));
    now = 1500; // the first two are older than 1 s now, the third is not
    c.remember('10.0.0.0/24', '10.0.0.5', written(5));
    expect(dropped).toEqual(['10.0.0.2', '10.0.0.3']);
    expect(c.isUnwritten('10.0.0.0/24', '10.0.0.2')).toBe(false);
    expect(c.take('10.0.0.0/24', '10.0.0.4')).toEqual(unwritten('10.0.0.4'));
  });
});
