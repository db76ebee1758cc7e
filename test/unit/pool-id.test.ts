import { describe, expect, it } from 'vitest';
import { formatPoolId, isSamePool, newGeneration, parsePoolId } from '../../src/ipam/pool-id.js';
import type { PoolRecord } from '../../src/store/records.js';

const pool = (generation?: string): PoolRecord => ({
  subnet: '10.0.0.0/24',
  users: ['h1'],
  createdBy: 'h1',
  createdAt: '2026-11-26T00:00:00.000Z',
  ...(generation ? { generation } : {}),
});

describe('PoolID', () => {
  it('is the subnet and the generation, and reads back as both', () => {
    const g = newGeneration();
    expect(g).toMatch(/^[0-9a-f]{12}$/);
    expect(formatPoolId(pool(g))).toBe(`10.0.0.0/24@${g}`);
    expect(parsePoolId(formatPoolId(pool(g)))).toEqual({ subnet: '10.0.0.0/24', generation: g });
    expect(newGeneration()).not.toBe(g);
  });

  it('is the plain subnet for a pool made before generations, naming any pool of the subnet', () => {
    expect(formatPoolId(pool())).toBe('10.0.0.0/24');
    expect(parsePoolId('10.0.0.0/24')).toEqual({ subnet: '10.0.0.0/24' });
    expect(isSamePool(pool('0123456789ab'), parsePoolId('10.0.0.0/24'))).toBe(true);
    expect(isSamePool(pool(), parsePoolId('10.0.0.0/24'))).toBe(true);
  });

  it('tells a pool from a later pool of the same subnet', () => {
    const id = parsePoolId('10.0.0.0/24@0123456789ab');
    expect(isSamePool(pool('0123456789ab'), id)).toBe(true);
    expect(isSamePool(pool('ba9876543210'), id)).toBe(false);
    expect(isSamePool(pool(), id)).toBe(false);
    expect(isSamePool({ ...pool('0123456789ab'), subnet: '10.0.1.0/24' }, id)).toBe(false);
  });

  it.each([
    '10.0.0.0_24',
    '10.0.0.1/24',
    '10.0.0.0/24@',
    '10.0.0.0/24@0123456789AB',
    '10.0.0.0/24@0123456789ab/x',
    '10.0.0.0/24@../../x',
    '10.0.0.0/24@0123456789ab@0123456789ab',
    '@0123456789ab',
    'LocalDefault/10.0.0.0/24',
  ])('refuses %j, naming the expected form', (id) => {
    expect(() => parsePoolId(id)).toThrow(/unknown pool ID .*such as 10\.0\.0\.0\/24@/);
  });
});
