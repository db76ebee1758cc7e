import { describe, expect, it } from 'vitest';
import { directionKey, newSession, open, readHeader, ReplayWindow, seal, TUNNEL_OVERHEAD } from '../../src/dataplane/tunnel-packet.js';
import { firstKeySet, isKeySet, nextRotationStep, rotationTiming } from '../../src/driver/key-schedule.js';
import { networkMtu, parseNetworkOptions } from '../../src/driver/network-options.js';
import type { KeySetRecord } from '../../src/store/records.js';

const cluster = Buffer.alloc(32, 7);

describe('tunnel packets', () => {
  it('seal and open round-trip, with the header readable and the overhead as documented', () => {
    const key = directionKey(cluster, 5n, '198.18.0.11', '198.18.0.12');
    const plaintext = Buffer.from('a VXLAN datagram');
    const sealed = seal(key, { keyId: 3, session: 5n, counter: 9n }, plaintext);
    expect(sealed.length).toBe(plaintext.length + TUNNEL_OVERHEAD);
    expect(readHeader(sealed)).toEqual({ keyId: 3, session: 5n, counter: 9n });
    expect(open(key, sealed)).toEqual(plaintext);
    expect(sealed.indexOf(plaintext)).toBe(-1);
  });

  it('derives different keys per direction, per session and per cluster key', () => {
    const ab = directionKey(cluster, 1n, '198.18.0.11', '198.18.0.12');
    expect(directionKey(cluster, 1n, '198.18.0.11', '198.18.0.12')).toEqual(ab);
    expect(directionKey(cluster, 1n, '198.18.0.12', '198.18.0.11')).not.toEqual(ab);
    expect(directionKey(cluster, 2n, '198.18.0.11', '198.18.0.12')).not.toEqual(ab);
    expect(directionKey(Buffer.alloc(32, 8), 1n, '198.18.0.11', '198.18.0.12')).not.toEqual(ab);
  });

  it('refuses a datagram with any bit changed, or opened with another key', () => {
    const key = directionKey(cluster, 1n, 'a', 'b');
    const sealed = seal(key, { keyId: 1, session: 1n, counter: 1n }, Buffer.alloc(100, 1));
    for (const at of [4, 9, 17, 30, sealed.length - 1]) {
      const bad = Buffer.from(sealed);
      bad[at]! ^= 1;
      expect(open(key, bad), `bit flipped at ${at}`).toBeUndefined();
    }
    expect(open(directionKey(cluster, 1n, 'b', 'a'), sealed)).toBeUndefined();
    expect(readHeader(Buffer.alloc(10))).toBeUndefined();
  });

  it('newer sessions compare greater', () => {
    expect(newSession(2000)).toBeGreaterThan(newSession(1999));
  });

  it('replay window: new counters pass once, old and repeated ones do not', () => {
    const w = new ReplayWindow();
    expect(w.accept(0n)).toBe(false);
    expect(w.accept(1n)).toBe(true);
    expect(w.accept(1n)).toBe(false);
    expect(w.accept(5n)).toBe(true);
    expect(w.accept(3n)).toBe(true); // out of order inside the window
    expect(w.accept(3n)).toBe(false);
    expect(w.accept(100n)).toBe(true);
    expect(w.accept(36n)).toBe(false); // 64 behind: outside the window
    expect(w.accept(37n)).toBe(true);
    expect(w.accept(99n)).toBe(true);
    expect(w.accept(99n)).toBe(false);
  });
});

describe('key rotation schedule', () => {
  const timing = rotationTiming(100); // 100 s interval, 20 s grace
  const at = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000);

  it('derives the grace from the interval, within 2 s to 60 s', () => {
    expect(rotationTiming(100).graceMs).toBe(20_000);
    expect(rotationTiming(10).graceMs).toBe(2000);
    expect(rotationTiming(43200).graceMs).toBe(60_000);
  });

  it('goes add -> promote -> retire, each a grace apart, then waits a full interval', () => {
    let set: KeySetRecord = firstKeySet(at(0));
    expect(isKeySet(set)).toBe(true);
    expect(nextRotationStep(set, at(99), timing)).toBeUndefined();
    const add = nextRotationStep(set, at(100), timing)!;
    expect(add.step).toBe('add');
    set = add.next;
    expect(set.keys.map((k) => k.id)).toEqual([1, 2]);
    expect(set.primary).toBe(1);
    expect(nextRotationStep(set, at(119), timing)).toBeUndefined(); // hosts still learning key 2
    const promote = nextRotationStep(set, at(120), timing)!;
    expect(promote.step).toBe('promote');
    set = promote.next;
    expect(set.primary).toBe(2);
    expect(nextRotationStep(set, at(139), timing)).toBeUndefined(); // hosts still switching
    const retire = nextRotationStep(set, at(140), timing)!;
    expect(retire.step).toBe('retire');
    set = retire.next;
    expect(set.keys.map((k) => k.id)).toEqual([2]);
    expect(nextRotationStep(set, at(219), timing)).toBeUndefined();
    expect(nextRotationStep(set, at(220), timing)?.step).toBe('add');
    expect(set.keys[0]!.secret).not.toBe(add.next.keys[0]!.secret);
  });

  it('refuses malformed key sets', () => {
    expect(isKeySet({})).toBe(false);
    expect(isKeySet({ keys: [], primary: 1, primarySince: 'x' })).toBe(false);
    expect(isKeySet({ keys: [{ id: 1, secret: 'short', addedAt: 'x' }], primary: 1, primarySince: 'x' })).toBe(false);
  });
});

describe('-o encrypted', () => {
  it('takes true, false, and Docker\'s bare --opt encrypted', () => {
    expect(parseNetworkOptions({ encrypted: 'true' })).toEqual({ encrypted: true });
    expect(parseNetworkOptions({ encrypted: '' })).toEqual({ encrypted: true });
    expect(parseNetworkOptions({ encrypted: 'false' })).toEqual({ encrypted: false });
    expect(() => parseNetworkOptions({ encrypted: 'yes' })).toThrow(/encrypted="yes" must be true, false or empty/);
    expect(() => parseNetworkOptions({ encrypted: { a: 1 } })).toThrow(/plain value/);
  });

  it('leaves room for the tunnel in the default MTU', () => {
    expect(networkMtu({ encrypted: true }, 1450)).toBe(1450 - TUNNEL_OVERHEAD);
    expect(networkMtu({}, 1450)).toBe(1450);
  });
});
