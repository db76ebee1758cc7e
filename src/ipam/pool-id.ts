import { randomBytes } from 'node:crypto';
import { notFound } from '../lib/errors.js';
import type { PoolRecord } from '../store/records.js';
import { formatCidr, parseCidr } from './cidr.js';

/**
 * The PoolID ts-overlay hands to Docker: the subnet plus the generation of its pool record,
 * "10.0.0.0/24@5f0c2a91d3e4". Docker sends it back on RequestAddress, ReleaseAddress and
 * ReleasePool, so a call meant for an earlier pool of the same subnet can be told apart and
 * ignored: one engine can hold a late ReleasePool (a copy's undo, a removal's retry) while the
 * subnet already belongs to a new network on the same host, and the subnet alone would free the
 * new network's pool under it (found by test/hardening/faults.test.ts with random kills).
 *
 * A plain subnet, the PoolID of ts-overlay before generations, still names the pool of that
 * subnet whatever its generation, so networks made by an older version keep working.
 */
export interface PoolHandle {
  readonly subnet: string;
  /** Undefined for a plain-subnet PoolID: any generation. */
  readonly generation?: string;
}

const GENERATION = /^[0-9a-f]{12}$/;

export function newGeneration(): string {
  return randomBytes(6).toString('hex');
}

export function formatPoolId(pool: PoolRecord): string {
  return pool.generation === undefined ? pool.subnet : `${pool.subnet}@${pool.generation}`;
}

/** Refuses anything but a canonical subnet with an optional generation, before it reaches the store. */
export function parsePoolId(poolId: string): PoolHandle {
  const at = poolId.indexOf('@');
  const subnetText = at < 0 ? poolId : poolId.slice(0, at);
  const generation = at < 0 ? undefined : poolId.slice(at + 1);
  const cidr = parseCidr(subnetText);
  // The store's keys spell "/" as "_": "10.0.0.0_24" must not name the pool 10.0.0.0/24.
  if (!cidr || formatCidr(cidr) !== subnetText || (generation !== undefined && !GENERATION.test(generation))) {
    throw notFound(`unknown pool ID "${poolId}": ts-overlay's pool IDs are a subnet and a generation, such as 10.0.0.0/24@5f0c2a91d3e4`);
  }
  return generation === undefined ? { subnet: subnetText } : { subnet: subnetText, generation };
}

/** Whether the record is the pool the handle was given for (not a later pool of the same subnet). */
export function isSamePool(pool: PoolRecord, handle: PoolHandle): boolean {
  return pool.subnet === handle.subnet && (handle.generation === undefined || pool.generation === handle.generation);
}
