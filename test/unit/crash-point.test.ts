import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CRASH_POINTS, parseCrashSpec } from '../../src/lib/crash-point.js';

const SRC = join(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sources(join(dir, d.name)) : d.name.endsWith('.ts') ? [join(dir, d.name)] : []));
}

describe('crash points', () => {
  it('every point in the catalog is placed in the code, and nothing outside the catalog is', () => {
    const placed = sources(SRC).flatMap((f) => [...readFileSync(f, 'utf8').matchAll(/crashPoint\('([^']+)'\)/g)].map((m) => m[1]!));
    expect(new Set(placed)).toEqual(new Set(CRASH_POINTS));
  });

  it('parses <point>[:<nth>] and refuses anything else', () => {
    expect(parseCrashSpec(undefined)).toBeUndefined();
    expect(parseCrashSpec('')).toBeUndefined();
    expect(parseCrashSpec('join.port-made')).toEqual({ point: 'join.port-made', nth: 1 });
    expect(parseCrashSpec('ipam.address-claimed:7')).toEqual({ point: 'ipam.address-claimed', nth: 7 });
    expect(() => parseCrashSpec('no.such-point')).toThrow(/must be <point>/);
    expect(() => parseCrashSpec('join.port-made:0')).toThrow(/must be <point>/);
    expect(() => parseCrashSpec('join.port-made:x')).toThrow(/must be <point>/);
  });
});
