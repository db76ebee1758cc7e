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

  it('parses CIDRs only with zero host bits', () => {
    expect(parseCidr('10.0.0.0/24')).toEqual({ base: 0x0a000000, prefix: 24 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ base: 0, prefix: 0 });
    expect(parseCidr('10.0.0.5/24')).toBeUndefined();
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('10.0.0.0')).toBeUndefined();
  });

  it('keeps the host part of an interface address', () => {
    expect(parseAddressWithPrefix('10.0.0.5/24')).toEqual({ ip: 0x0a000005, prefix: 24 });
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
