import { randomBytes } from 'node:crypto';

/**
 * The little IPv4 arithmetic the kit needs to judge addresses. Kept apart from the plugin's own
 * CIDR code on purpose: a checker that shares the code it checks shares its bugs.
 */
export interface Prefixed {
  readonly ip: number;
  readonly prefix: number;
}

export function parseIPv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const octets = m.slice(1).map(Number);
  if (octets.some((o) => o > 255)) return undefined;
  return octets.reduce((n, o) => n * 256 + o, 0);
}

/** "a.b.c.d/len", as IPAM replies carry both pools and addresses. */
export function parsePrefixed(text: string): Prefixed | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIPv4(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  const prefix = Number(lenText);
  if (ip === undefined || !/^\d{1,2}$/.test(lenText) || prefix > 32) return undefined;
  return { ip, prefix };
}

export function formatIPv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

function networkOf(p: Prefixed): number {
  const size = 2 ** (32 - p.prefix);
  return Math.floor(p.ip / size) * size;
}

export function inPool(pool: Prefixed, ip: number): boolean {
  return networkOf({ ip, prefix: pool.prefix }) === networkOf(pool);
}

/** The n-th address of the pool with the pool's prefix: hostInPool(10.0.0.0/24, 1) = 10.0.0.1/24. */
export function hostInPool(pool: Prefixed, n: number): string {
  return `${formatIPv4(networkOf(pool) + n)}/${pool.prefix}`;
}

/** An ID as Docker makes them: 64 lowercase hex characters. */
export function randomDockerId(): string {
  return randomBytes(32).toString('hex');
}
