import { Address4 } from 'ip-address';
import { describe, expect, it } from 'vitest';
import { containsCidr, formatCidr, formatIPv4, macFromIPv4, overlaps, parseAddressWithPrefix, parseCidr, parseIPv4, usableRange } from '../../src/ipam/cidr.js';

describe('IPv4 parsing', () => {
  it('parses dotted quads and refuses anything else', () => {
    expect(parseIPv4('10.0.0.1')).toBe(0x0a000001);
    expect(parseIPv4('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['10.0.0.256', '10.0.0', '010.0.0.1', '10.0.0.1/24', '', 'x', ' 10.0.0.1']) {
      expect(parseIPv4(bad), bad).toBeUndefined();
    }
  });

  it('accepts exactly what ip-address accepts as an IPv4 address (its parser was ours until it cost too much)', () => {
    const oracle = (text: string) => {
      if (text.includes('/')) return undefined;
      try {
        return Number(new Address4(text).bigInt());
      } catch {
        return undefined;
      }
    };
    const tricky = ['0.0.0.0', '1.2.3.4', '01.2.3.4', '1.2.3.04', '00.1.1.1', '0.1.1.1', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1.2.3.4 ', '+1.2.3.4', '1.2.3.-4', '1..2.3', '1.2.3.', '.1.2.3', '0x1.2.3.4', '1e1.2.3.4', '١.2.3.4', '1.2.3.4\n', '1000.1.1.1', '255.255.255.255', '1.2.3.4/8'];
    // And random quads (octets up to 299, some with a leading zero), half of them with one
    // character changed, inserted or dropped: valid addresses and their near-misses.
    let seed = 7;
    const random = (n: number) => Math.floor(((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * n);
    const alphabet = '0123456789./ x';
    const generated = Array.from({ length: 20_000 }, () => {
      const quad = Array.from({ length: 4 }, () => (random(8) === 0 ? '0' : '') + String(random(300))).join('.');
      const at = random(quad.length + 1);
      const char = alphabet[random(alphabet.length)]!;
      return [quad, quad.slice(0, at) + char + quad.slice(at + 1), quad.slice(0, at) + char + quad.slice(at), quad.slice(0, at) + quad.slice(at + 1)][random(2) * (1 + random(3))]!;
    });
    const accepted = generated.filter((t) => oracle(t) !== undefined).length;
    expect(accepted).toBeGreaterThan(3000); // many valid addresses, not only refusals
    expect(accepted).toBeLessThan(generated.length - 3000); // and many refusals
    for (const text of [...tricky, ...generated]) expect(parseIPv4(text), JSON.stringify(text)).toBe(oracle(text));
    // And with a prefix, against what the parser before this one did: a regular expression, then Address4.
    const oracleWithPrefix = (text: string) => {
      const match = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
      const ip = match ? oracle(match[1]!) : undefined;
      return ip === undefined || Number(match![2]) > 32 ? undefined : { ip, prefix: Number(match![2]) };
    };
    const suffixes = ['/0', '/8', '/08', '/24', '/32', '/33', '/99', '/', '/100', '/2x', '//4', ''];
    for (const text of [...tricky, ...generated.slice(0, 5000)].flatMap((t) => suffixes.map((x) => t + x))) {
      expect(parseAddressWithPrefix(text), JSON.stringify(text)).toEqual(oracleWithPrefix(text));
    }
  });

  it('parses CIDRs only with zero host bits', () => {
    expect(parseCidr('10.0.0.0/24')).toEqual({ base: 0x0a000000, prefix: 24 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ base: 0, prefix: 0 });
    expect(parseCidr('10.0.0.5/24')).toBeUndefined();
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('10.0.0.0')).toBeUndefined();
  });

  it('keeps the host part of an interface address', () => {
    expect(parseAddressWithPrefix('10.0.0.5/24')).toEqual({ ip: 0x0a000005, prefix: 24 });
    expect(parseAddressWithPrefix('10.0.0.5/0')).toEqual({ ip: 0x0a000005, prefix: 0 });
    expect(parseAddressWithPrefix('10.0.0.5/32')).toEqual({ ip: 0x0a000005, prefix: 32 });
    for (const bad of ['10.0.0.5', '10.0.0.5/', '10.0.0.5/33', '10.0.0.5/024', '10.0.0.5/2x', '10.0.0.5/ 2', '010.0.0.5/24', '10.0.0/24', '/24', '10.0.0.5/24/24']) {
      expect(parseAddressWithPrefix(bad), bad).toBeUndefined();
    }
    // What etcd's JSON may hold where a string belongs: refused, never a throw.
    for (const notText of [undefined, null, 5, ['10.0.0.5/24'], {}] as unknown as string[]) {
      expect(parseAddressWithPrefix(notText)).toBeUndefined();
      expect(parseCidr(notText)).toBeUndefined();
      expect(parseIPv4(notText)).toBeUndefined();
    }
  });

  it('formats what it parses', () => {
    expect(formatCidr(parseCidr('192.168.128.0/17')!)).toBe('192.168.128.0/17');
    expect(formatIPv4(0xc0000201)).toBe('192.0.2.1');
  });
});

describe('CIDR relations', () => {
  const c = (s: string) => parseCidr(s)!;
  it('detects overlap in both directions and adjacency as no overlap', () => {
    expect(overlaps(c('10.0.0.0/16'), c('10.0.5.0/24'))).toBe(true);
    expect(overlaps(c('10.0.5.0/24'), c('10.0.0.0/16'))).toBe(true);
    expect(overlaps(c('10.0.0.0/24'), c('10.0.1.0/24'))).toBe(false);
  });
  it('knows containment', () => {
    expect(containsCidr(c('10.0.0.0/24'), c('10.0.0.128/25'))).toBe(true);
    expect(containsCidr(c('10.0.0.128/25'), c('10.0.0.0/24'))).toBe(false);
  });
  it('leaves out network and broadcast, except in /31 and /32', () => {
    expect(usableRange(c('10.0.0.0/24'))).toEqual({ first: 0x0a000001, last: 0x0a0000fe });
    expect(usableRange(c('10.0.0.0/31'))).toEqual({ first: 0x0a000000, last: 0x0a000001 });
  });
});

describe('macFromIPv4', () => {
  it('derives the MAC the source documents show for 10.0.0.2', () => {
    expect(macFromIPv4(parseIPv4('10.0.0.2')!)).toBe('02:42:0a:00:00:02');
  });
});
