import { Address4 } from 'ip-address';

/** An IPv4 prefix as integers: `base` is the network address, host bits zero. */
export interface Cidr {
  readonly base: number;
  readonly prefix: number;
}

/** Parses a dotted quad; undefined when it is not one (no leading zeros, no mask). */
export function parseIPv4(text: string): number | undefined {
  if (text.includes('/')) return undefined;
  try {
    return Number(new Address4(text).bigInt());
  } catch {
    return undefined;
  }
}

/** Parses "a.b.c.d/n" with host bits zero; undefined otherwise. */
export function parseCidr(text: string): Cidr | undefined {
  const parsed = parseAddressWithPrefix(text);
  if (!parsed || parsed.ip !== networkOf(parsed.ip, parsed.prefix)) return undefined;
  return { base: parsed.ip, prefix: parsed.prefix };
}

/** Parses "a.b.c.d/n" where host bits may be set (an interface address). */
export function parseAddressWithPrefix(text: string): { ip: number; prefix: number } | undefined {
  const match = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!match) return undefined;
  const ip = parseIPv4(match[1]!);
  const prefix = Number(match[2]);
  if (ip === undefined || prefix > 32) return undefined;
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
