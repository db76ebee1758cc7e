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

  it('gives two hosts different addresses from their stripes, as the demo expects (.2 on h1, .3 on h2)', () => {
    const h1 = new AddressBook();
    const h2 = new AddressBook();
    for (const b of [h1, h2]) b.load([{ subnet: '10.0.0.0/24', ip: '10.0.0.1' }]);
    const first = (b: AddressBook, index: number) => formatIPv4(b.startClaim('10.0.0.0/24', undefined, { index, count: 2 })!);
    expect([first(h1, 0), first(h2, 1), first(h1, 0), first(h2, 1)]).toEqual(['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5']);
  });

  it('takes any free address once its stripe is full', () => {
    const book = new AddressBook();
    const range = parseCidr('10.0.0.0/30'); // usable here: .1, .2, .3; the even stripe is just .2
    book.add('10.0.0.0/24', '10.0.0.2');
    const claim = () => book.startClaim('10.0.0.0/24', range, { index: 0, count: 2 });
    expect([claim(), claim(), claim()].map((ip) => ip && formatIPv4(ip))).toEqual(['10.0.0.1', '10.0.0.3', undefined]);
  });

  it('picks exactly what a scan from the lowest address would, through any mix of claims, losses and frees', () => {
    // The reference: the lowest free address of the stripe, else of the range, scanned from the start.
    const naive = (busy: Set<number>, first: number, last: number, stripe?: { index: number; count: number }) => {
      const base = parseCidr('10.1.0.0/22')!.base;
      for (let ip = first; ip <= last; ip++) if (!busy.has(ip) && (!stripe || (ip - base) % stripe.count === stripe.index)) return ip;
      for (let ip = first; ip <= last; ip++) if (!busy.has(ip)) return ip;
      return undefined;
    };
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const range of [undefined, parseCidr('10.1.1.0/24')]) {
      const book = new AddressBook();
      const subnet = '10.1.0.0/22';
      const first = range ? range.base : parseCidr(subnet)!.base + 1;
      const last = range ? range.base + 255 : parseCidr(subnet)!.base + 1022;
      const busy = new Set<number>();
      const claiming: number[] = [];
      for (let step = 0; step < 3000; step++) {
        const r = random();
        const stripe = r < 0.5 ? { index: 0, count: 2 } : r < 0.7 ? { index: 1, count: 3 } : undefined;
        if (r < 0.85 || claiming.length === 0) {
          const ip = book.startClaim(subnet, range, stripe);
          expect(ip, `step ${step}`).toBe(naive(busy, first, last, stripe && stripe.count > 1 ? stripe : undefined));
          if (ip !== undefined) (busy.add(ip), claiming.push(ip));
        } else if (r < 0.9) {
          const ip = claiming.splice(Math.floor(random() * claiming.length), 1)[0]!;
          book.done(subnet, ip, false); // lost, and nobody holds it
          busy.delete(ip);
        } else if (r < 0.95) {
          book.done(subnet, claiming.shift()!, true); // won
        } else {
          // Another host's address freed (a watch delete), or one of ours released.
          const ip = first + Math.floor(random() * (last - first + 1));
          if (!claiming.includes(ip)) (book.remove(subnet, formatIPv4(ip)), busy.delete(ip));
        }
      }
    }
  });

  it('keeps the pools it is told about, and forgets dropped ones', () => {
    const book = new AddressBook();
    const pool = { subnet: '10.0.0.0/24', ipRange: '10.0.0.128/25', users: ['h1'], createdBy: 'h1', createdAt: '' };
    book.loadPools([pool]);
    expect(book.pool('10.0.0.0/24')?.ipRange).toBe('10.0.0.128/25');
    book.setPool({ ...pool, users: ['h1', 'h2'] });
    expect(book.pool('10.0.0.0/24')?.users).toEqual(['h1', 'h2']);
    book.dropPool('10.0.0.0/24');
    expect(book.pool('10.0.0.0/24')).toBeUndefined();
  });

  it('lets go of a subnet once nothing in it is taken or being claimed', () => {
    const book = new AddressBook();
    book.load([{ subnet: '10.0.0.0/24', ip: '10.0.0.2' }, { subnet: '10.0.1.0/24', ip: '10.0.1.2' }]);
    const won = book.startClaim('10.0.0.0/24', undefined)!;
    const lost = book.startClaim('10.0.0.0/24', undefined)!;
    book.done('10.0.0.0/24', won, true);
    book.remove('10.0.0.0/24', '10.0.0.2');
    book.remove('10.0.0.0/24', formatIPv4(won));
    // A claim still under way holds the subnet; its end lets go.
    expect(book.heldSubnets()).toEqual(['10.0.0.0/24', '10.0.1.0/24']);
    book.done('10.0.0.0/24', lost, false);
    expect(book.heldSubnets()).toEqual(['10.0.1.0/24']);
    // Taken up again afterwards, it searches from its first free address.
    expect(formatIPv4(book.startClaim('10.0.0.0/24', undefined)!)).toBe('10.0.0.1');
  });
});
