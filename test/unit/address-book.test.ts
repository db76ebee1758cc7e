import { describe, expect, it } from 'vitest';
import { AddressBook } from '../../src/ipam/address-book.js';
import { formatIPv4, parseCidr } from '../../src/ipam/cidr.js';

describe('AddressBook', () => {
  it('hands concurrent claims of one host different addresses', () => {
    const book = new AddressBook();
    book.load([{ subnet: '10.0.0.0/24', ip: '10.0.0.1' }]);
    const a = book.startClaim('10.0.0.0/24', undefined)!;
    const b = book.startClaim('10.0.0.0/24', undefined)!;
    expect([formatIPv4(a), formatIPv4(b)]).toEqual(['10.0.0.2', '10.0.0.3']);
  });

  it('offers an address again when its claim ended without taking it, not when it was taken', () => {
    const book = new AddressBook();
    const a = book.startClaim('10.0.0.0/24', undefined)!;
    book.done('10.0.0.0/24', a, false);
    expect(book.startClaim('10.0.0.0/24', undefined)).toBe(a);
    book.done('10.0.0.0/24', a, true);
    expect(book.startClaim('10.0.0.0/24', undefined)).not.toBe(a);
  });

  it('follows puts and deletes, and stays inside the ip-range', () => {
    const book = new AddressBook();
    book.add('10.0.0.0/24', '10.0.0.128');
    const range = parseCidr('10.0.0.128/30');
    expect(formatIPv4(book.startClaim('10.0.0.0/24', range)!)).toBe('10.0.0.129');
    book.remove('10.0.0.0/24', '10.0.0.128');
    expect(formatIPv4(book.startClaim('10.0.0.0/24', range)!)).toBe('10.0.0.128');
  });

  it('says when nothing is left', () => {
    const book = new AddressBook();
    book.load([{ subnet: '10.0.0.0/30', ip: '10.0.0.1' }, { subnet: '10.0.0.0/30', ip: '10.0.0.2' }]);
    expect(book.startClaim('10.0.0.0/30', undefined)).toBeUndefined();
  });
});
