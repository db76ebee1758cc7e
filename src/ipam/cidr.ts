/** An IPv4 prefix as integers: `base` is the network address, host bits zero. */
export interface Cidr {
  readonly base: number;
  readonly prefix: number;
}

/**
 * The dotted quad in text[from, to) as an integer, or -1: four decimal octets of at most 255,
 * no leading zeros, nothing else (what ip-address's Address4 accepts; test/unit/cidr.test.ts
 * holds the two to the same answers). Read character by character: every RequestAddress,
 * CreateEndpoint and address watch event parses addresses, and Address4 with regular
 * expressions made most of the IPAM's garbage, which young-generation collections then cost
 * (docs/performance-notes.md, "Who holds the CPUs at 500 a second").
 */
function dottedQuad(text: string, from: number, to: number): number {
  let ip = 0;
  let octets = 0;
  let i = from;
  while (octets < 4) {
    const start = i;
    let octet = 0;
    while (i < to) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      octet = octet * 10 + c;
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || octet > 255 || (digits > 1 && text.charCodeAt(start) === 48)) return -1;
    ip = ip * 256 + octet;
    octets++;
    if (octets < 4) {
      if (i >= to || text.charCodeAt(i) !== 46) return -1; // '.'
      i++;
    }
  }
  return i === to ? ip : -1;
}

/**
 * Parses a dotted quad; undefined when it is not one (no leading zeros, no mask), or not a
 * string at all: some callers pass what etcd's JSON holds, which nothing has checked.
 */
export function parseIPv4(text: string): number | undefined {
  if (typeof text !== 'string') return undefined;
  const ip = dottedQuad(text, 0, text.length);
  return ip < 0 ? undefined : ip;
}

/** Parses "a.b.c.d/n" with host bits zero; undefined otherwise. */
export function parseCidr(text: string): Cidr | undefined {
  const parsed = parseAddressWithPrefix(text);
  if (!parsed || parsed.ip !== networkOf(parsed.ip, parsed.prefix)) return undefined;
  return { base: parsed.ip, prefix: parsed.prefix };
}

/** Parses "a.b.c.d/n" where host bits may be set (an interface address); n is 0-32, one or two digits. */
export function parseAddressWithPrefix(text: string): { ip: number; prefix: number } | undefined {
  if (typeof text !== 'string') return undefined; // as parseIPv4
  const slash = text.indexOf('/');
  const digits = text.length - slash - 1;
  if (slash < 0 || digits < 1 || digits > 2) return undefined;
  let prefix = 0;
  for (let i = slash + 1; i < text.length; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return undefined;
    prefix = prefix * 10 + c;
  }
  const ip = dottedQuad(text, 0, slash);
  if (ip < 0 || prefix > 32) return undefined;
  return { ip, prefix };
}

export function formatIPv4(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].join('.');
}

export function formatCidr(cidr: Cidr): string {
  return `${formatIPv4(cidr.base)}/${cidr.prefix}`;
}

export function size(cidr: Cidr): number {
  return 2 ** (32 - cidr.prefix);
}

export function lastAddress(cidr: Cidr): number {
  return cidr.base + size(cidr) - 1;
}

export function networkOf(ip: number, prefix: number): number {
  return prefix === 0 ? 0 : (ip & (~0 << (32 - prefix))) >>> 0;
}

export function contains(outer: Cidr, ip: number): boolean {
  return ip >= outer.base && ip <= lastAddress(outer);
}

export function containsCidr(outer: Cidr, inner: Cidr): boolean {
  return inner.prefix >= outer.prefix && contains(outer, inner.base);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  return a.base <= lastAddress(b) && b.base <= lastAddress(a);
}

/**
 * Addresses a host may take in `subnet`: all of them but the network and broadcast
 * addresses, except in /31 and /32 where every address is usable (RFC 3021).
 */
export function usableRange(subnet: Cidr): { first: number; last: number } {
  if (subnet.prefix >= 31) return { first: subnet.base, last: lastAddress(subnet) };
  return { first: subnet.base + 1, last: lastAddress(subnet) - 1 };
}

/** The MAC Docker's own drivers derive from an IPv4 address: 02:42 then the four octets. */
export function macFromIPv4(ip: number): string {
  const octets = [0x02, 0x42, ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255];
  return octets.map((o) => o.toString(16).padStart(2, '0')).join(':');
}

/** One key for an address of a subnet, for the maps that index addresses by both (a pool's subnet "10.0.0.0/24" and "10.0.0.9"). */
export const addressKey = (subnet: string, ip: string): string => `${subnet} ${ip}`;
