import { describe, expect, it } from 'vitest';
import { RecentClaims } from '../../src/ipam/recent-claims.js';

describe('RecentClaims', () => {
  it('hands a claim\'s revision out once, per subnet and address', () => {
    const c = new RecentClaims();
    c.remember('10.0.0.0/24', '10.0.0.2', 41);
    c.remember('10.0.1.0/24', '10.0.0.2', 42); // same address, another subnet
    expect(c.take('10.0.0.0/24', '10.0.0.2')).toBe(41);
    expect(c.take('10.0.0.0/24', '10.0.0.2')).toBeUndefined();
    expect(c.take('10.0.1.0/24', '10.0.0.2')).toBe(42);
  });

  it('forgets a released address, and keeps the newest claim of one claimed again', () => {
    const c = new RecentClaims();
    c.remember('10.0.0.0/24', '10.0.0.2', 7);
    c.forget('10.0.0.0/24', '10.0.0.2');
    expect(c.take('10.0.0.0/24', '10.0.0.2')).toBeUndefined();
    c.remember('10.0.0.0/24', '10.0.0.3', 8);
    c.remember('10.0.0.0/24', '10.0.0.3', 9);
    expect(c.size).toBe(1);
    expect(c.take('10.0.0.0/24', '10.0.0.3')).toBe(9);
  });

  it('drops the oldest claims beyond its limit (a claim read from etcd instead)', () => {
    const c = new RecentClaims(3);
    for (let i = 1; i <= 4; i++) c.remember('10.0.0.0/24', `10.0.0.${i}`, i);
    c.remember('10.0.0.0/24', '10.0.0.2', 20); // touched again: now the newest
    c.remember('10.0.0.0/24', '10.0.0.5', 5);
    expect(c.size).toBe(3);
    expect(c.take('10.0.0.0/24', '10.0.0.1')).toBeUndefined();
    expect(c.take('10.0.0.0/24', '10.0.0.3')).toBeUndefined();
    expect([c.take('10.0.0.0/24', '10.0.0.4'), c.take('10.0.0.0/24', '10.0.0.2'), c.take('10.0.0.0/24', '10.0.0.5')]).toEqual([4, 20, 5]);
  });
});
