import { type Cidr, contains, lastAddress, overlaps, size, usableRange } from './cidr.js';

/**
 * Pure allocation policy: which subnet, address or VNI to try next. The store makes the
 * choice stick (or fails it on a race); these functions only look at what is taken.
 */

/** The lowest `prefix`-sized subnet of `pool` that overlaps none of `taken`. */
export function nextFreeSubnet(pool: Cidr, prefix: number, taken: readonly Cidr[]): Cidr | undefined {
  if (prefix < pool.prefix || prefix > 32) return undefined;
  const step = 2 ** (32 - prefix);
  const sorted = [...taken].filter((t) => overlaps(t, pool)).sort((a, b) => a.base - b.base);
  let candidate = pool.base;
  const end = lastAddress(pool);
  while (candidate + step - 1 <= end) {
    const subnet = { base: candidate, prefix };
    const clash = sorted.find((t) => overlaps(t, subnet));
    if (!clash) return subnet;
    // Skip past the clash, then round up to the next multiple of the step.
    const afterClash = clash.base + size(clash);
    candidate = Math.ceil((afterClash - pool.base) / step) * step + pool.base;
  }
  return undefined;
}

export function firstOverlap<T extends { cidr: Cidr }>(subnet: Cidr, existing: readonly T[]): T | undefined {
  return existing.find((e) => overlaps(e.cidr, subnet));
}

/**
 * Free addresses of `range` (clipped to the usable part of `subnet`) in ascending order,
 * at most `limit` of them, optionally only those `wanted` accepts and none below `from`.
 * `taken` holds the addresses already claimed.
 */
export function freeAddresses(
  subnet: Cidr,
  range: Cidr | undefined,
  taken: { has(ip: number): boolean },
  limit: number,
  wanted: (ip: number) => boolean = () => true,
  from = 0,
): number[] {
  const usable = usableRange(subnet);
  const first = Math.max(usable.first, range ? range.base : usable.first, from);
  const last = Math.min(usable.last, range ? lastAddress(range) : usable.last);
  const out: number[] = [];
  for (let ip = first; ip <= last && out.length < limit; ip++) {
    if (!taken.has(ip) && wanted(ip)) out.push(ip);
  }
  return out;
}

export function isUsableAddress(subnet: Cidr, ip: number): boolean {
  const { first, last } = usableRange(subnet);
  return contains(subnet, ip) && ip >= first && ip <= last;
}

/** The lowest VNI in [min, max] not in `taken`. */
export function nextFreeVni(min: number, max: number, taken: ReadonlySet<number>): number | undefined {
  for (let vni = min; vni <= max; vni++) if (!taken.has(vni)) return vni;
  return undefined;
}
