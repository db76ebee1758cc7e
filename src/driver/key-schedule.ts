import { randomBytes } from 'node:crypto';
import type { ClusterKey, KeySetRecord } from '../store/records.js';

/**
 * The cluster's encryption keys and how they rotate, as pure functions of the key set and the
 * time. One key is primary: senders seal with it. Every key in the set opens. A rotation runs
 * in three steps, each written to etcd by whichever host wins the transaction, each a `grace`
 * after the one before, so that no host ever receives a datagram sealed with a key it does not
 * hold yet or no longer:
 *   1. add:     a new key joins the set (receive only);
 *   2. promote: once every host has had `grace` to learn it, it becomes primary;
 *   3. retire:  once every host has had `grace` to switch, older keys leave the set.
 * A rotation starts when the primary is older than the rotation interval.
 */
export interface RotationTiming {
  readonly intervalMs: number;
  readonly graceMs: number;
}

/** The grace between rotation steps: a fifth of the interval, from 2 s to 60 s. */
export function rotationTiming(intervalSeconds: number): RotationTiming {
  const intervalMs = intervalSeconds * 1000;
  return { intervalMs, graceMs: Math.min(60_000, Math.max(2000, Math.floor(intervalMs / 5))) };
}

export function newKey(id: number, now: Date): ClusterKey {
  return { id, secret: randomBytes(32).toString('base64'), addedAt: now.toISOString() };
}

/** The first key set of a cluster: one key, primary at once (no host holds anything before it). */
export function firstKeySet(now: Date): KeySetRecord {
  return { keys: [newKey(1, now)], primary: 1, primarySince: now.toISOString() };
}

export type RotationStep = 'add' | 'promote' | 'retire';

/** The next step of the rotation due at `now`, and the key set after it; undefined: nothing due. */
export function nextRotationStep(set: KeySetRecord, now: Date, timing: RotationTiming): { step: RotationStep; next: KeySetRecord } | undefined {
  const t = now.getTime();
  const primary = set.keys.find((k) => k.id === set.primary);
  const newest = set.keys.reduce((a, b) => (b.id > a.id ? b : a), set.keys[0]!);
  if (!primary) {
    // A hand-edited set without its primary: the newest key leads.
    return { step: 'promote', next: { ...set, primary: newest.id, primarySince: now.toISOString() } };
  }
  if (newest.id > primary.id) {
    if (t - Date.parse(newest.addedAt) < timing.graceMs) return undefined;
    return { step: 'promote', next: { ...set, primary: newest.id, primarySince: now.toISOString() } };
  }
  const older = set.keys.filter((k) => k.id < primary.id);
  if (older.length > 0) {
    if (t - Date.parse(set.primarySince) < timing.graceMs) return undefined;
    return { step: 'retire', next: { ...set, keys: set.keys.filter((k) => k.id >= primary.id) } };
  }
  if (t - Date.parse(set.primarySince) >= timing.intervalMs) {
    return { step: 'add', next: { ...set, keys: [...set.keys, newKey(newest.id + 1, now)] } };
  }
  return undefined;
}

/** A key set someone wrote into etcd is used only if it has this shape. */
export function isKeySet(value: unknown): value is KeySetRecord {
  const v = value as KeySetRecord | null;
  return (
    typeof v === 'object' && v !== null && Array.isArray(v.keys) && v.keys.length > 0 && Number.isInteger(v.primary) && typeof v.primarySince === 'string' &&
    v.keys.every((k) => Number.isInteger(k.id) && k.id > 0 && k.id < 2 ** 32 && typeof k.addedAt === 'string' && typeof k.secret === 'string' && Buffer.from(k.secret, 'base64').length === 32)
  );
}
