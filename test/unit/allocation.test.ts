import { describe, expect, it } from 'vitest';
import { freeAddresses, nextFreeSubnet, nextFreeVni } from '../../src/ipam/allocation.js';
import { formatCidr, formatIPv4, parseCidr, parseIPv4 } from '../../src/ipam/cidr.js';

const c = (s: string) => parseCidr(s)!;

describe('nextFreeSubnet', () => {
  it('hands out 10.0.0.0/24 first, as the source documents show', () => {
    expect(formatCidr(nextFreeSubnet(c('10.0.0.0/8'), 24, [])!)).toBe('10.0.0.0/24');
  });
  it('skips every taken or overlapping subnet', () => {
    const taken = [c('10.0.0.0/24'), c('10.0.1.0/25'), c('10.0.2.0/23')];
    expect(formatCidr(nextFreeSubnet(c('10.0.0.0/8'), 24, taken)!)).toBe('10.0.4.0/24');
  });
  it('skips a larger user subnet that covers candidates', () => {
    expect(formatCidr(nextFreeSubnet(c('10.0.0.0/8'), 24, [c('10.0.0.0/16')])!)).toBe('10.1.0.0/24');
  });
  it('returns undefined when the pool is full or the size does not fit', () => {
    expect(nextFreeSubnet(c('10.0.0.0/23'), 24, [c('10.0.0.0/24'), c('10.0.1.0/24')])).toBeUndefined();
    expect(nextFreeSubnet(c('10.0.0.0/24'), 16, [])).toBeUndefined();
  });
});

describe('freeAddresses', () => {
  it('starts after the network address and skips taken ones', () => {
    const taken = new Set([parseIPv4('10.0.0.1')!, parseIPv4('10.0.0.3')!]);
    expect(freeAddresses(c('10.0.0.0/24'), undefined, taken, 3).map(formatIPv4)).toEqual(['10.0.0.2', '10.0.0.4', '10.0.0.5']);
  });
  it('stays inside the ip-range and never offers the broadcast address', () => {
    const out = freeAddresses(c('10.0.0.0/24'), c('10.0.0.252/30'), new Set(), 10).map(formatIPv4);
    expect(out).toEqual(['10.0.0.252', '10.0.0.253', '10.0.0.254']);
  });
  it('offers only the addresses a filter accepts', () => {
    const odd = (ip: number) => ip % 2 === 1;
    expect(freeAddresses(c('10.0.0.0/24'), undefined, new Set(), 3, odd).map(formatIPv4)).toEqual(['10.0.0.1', '10.0.0.3', '10.0.0.5']);
  });
});

describe('nextFreeVni', () => {
  it('takes the lowest free VNI in range', () => {
    expect(nextFreeVni(4096, 4100, new Set([4096, 4097]))).toBe(4098);
    expect(nextFreeVni(1, 2, new Set([1, 2]))).toBeUndefined();
  });
});
