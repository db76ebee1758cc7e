import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Runner } from '../../src/dataplane/runner.js';
import { SparePorts } from '../../src/dataplane/spare-ports.js';

/**
 * The pool's bookkeeping against a stand-in for `ip -batch`: each request waits until the test
 * answers it, so the orders of events that real devices make rare can be set up exactly
 * (test/netns/spare-ports.test.ts runs the pool on real devices).
 */
class FakeIp {
  readonly requests: Array<{ lines: readonly string[]; answer: (failedLines?: number[]) => void; fail: () => void }> = [];
  /** The names of each deletion asked for (Runner.deleteLinks, answered at once). */
  readonly deletions: string[][] = [];

  readonly runner = {
    batchReport: (_tool: string, lines: readonly string[]) =>
      new Promise<Set<number>>((resolve, reject) => {
        this.requests.push({ lines, answer: (failed = []) => resolve(new Set(failed)), fail: () => reject(new Error('session ended')) });
      }),
    deleteLinks: (names: readonly string[]) => {
      this.deletions.push([...names]);
      return Promise.resolve(new Map());
    },
  } as unknown as Runner;

  /** Names the pending `link add` requests make, and their requests. */
  adds(): Array<{ lines: readonly string[]; names: string[]; answer: (failedLines?: number[]) => void; fail: () => void }> {
    return this.requests.filter((r) => r.lines[0]?.startsWith('link add')).map((r) => ({ ...r, names: r.lines.map((l) => l.split(' ')[2]!) }));
  }

  deleted(): string[] {
    return this.deletions.flat();
  }
}

const settle = () => new Promise((r) => setImmediate(r));
const options = { max: 4, joinsPerSpare: 1, idleMs: 60_000 };

afterEach(() => vi.useRealTimers());

describe('spare interfaces: the pool\'s bookkeeping', () => {
  it('makes one spare per Join of the last second up to max, hands each out once, and owns it until the endpoint lets go', async () => {
    const ip = new FakeIp();
    const pool = new SparePorts(ip.runner, options);
    expect(pool.take('e1', 7, 1450)).toBeUndefined(); // none yet
    const [first] = ip.adds();
    expect(first!.names).toHaveLength(1);
    expect(first!.lines[0]).toMatch(/^link add tsp-[0-9a-f]{11} link tsvx-7 mtu 1450 type macvlan mode bridge$/);
    expect(pool.owns(first!.names[0]!)).toBe(true); // being made: not a leftover
    first!.answer();
    await settle();
    const given = pool.take('e2', 7, 1450);
    expect(given).toBe(first!.names[0]);
    expect(pool.handedTo('e2')).toBe(given);
    expect(pool.owns(given!)).toBe(true);
    pool.letGo('e2');
    expect(pool.owns(given!)).toBe(false);
    expect(pool.handedTo('e2')).toBeUndefined();
    for (let i = 3; i < 10; i++) pool.take(`e${i}`, 7, 1450);
    await settle();
    expect(ip.adds().slice(1).reduce((n, r) => n + r.names.length, 0)).toBeLessThanOrEqual(4);
  });

  it('pauses after a refill that made nothing, and refills again after the pause', async () => {
    vi.useFakeTimers({ toFake: ['performance', 'setTimeout'] });
    const ip = new FakeIp();
    const pool = new SparePorts(ip.runner, options);
    pool.take('e1', 7, 1450);
    ip.adds()[0]!.answer([1]); // the line failed: the device is gone
    await vi.advanceTimersByTimeAsync(0);
    pool.take('e2', 7, 1450);
    pool.take('e3', 7, 1450);
    expect(ip.adds()).toHaveLength(1); // paused
    await vi.advanceTimersByTimeAsync(1001);
    pool.take('e4', 7, 1450);
    expect(ip.adds()).toHaveLength(2);
  });

  it('never hands out a spare reported deleted while it was being made, nor one a listing no longer shows', async () => {
    vi.useFakeTimers({ toFake: ['performance', 'setTimeout'] });
    const ip = new FakeIp();
    const pool = new SparePorts(ip.runner, options);
    pool.take('e1', 7, 1450);
    pool.take('e2', 7, 1450);
    const [req] = ip.adds();
    const [doomed] = req!.names;
    pool.gone(doomed!); // the monitor's report came before ip's answer
    req!.answer();
    await vi.advanceTimersByTimeAsync(0);
    expect(pool.owns(doomed!)).toBe(false);
    expect(ip.deleted()).toContain(doomed); // not kept: deleted (again) to be sure

    // A ready spare that a later listing lacks was deleted behind the monitor's back.
    pool.take('e3', 7, 1450);
    await vi.advanceTimersByTimeAsync(0);
    const answered = ip.adds().slice(1);
    for (const r of answered) r.answer();
    await vi.advanceTimersByTimeAsync(5);
    const ready = answered.flatMap((r) => r.names).filter((n) => pool.owns(n));
    expect(ready.length).toBeGreaterThan(0);
    pool.checkAgainst(new Set(), performance.now());
    for (const n of ready) expect(pool.owns(n)).toBe(false);
    expect(pool.take('e4', 7, 1450)).toBeUndefined();
  });

  it('ignores a listing begun before a spare was made', async () => {
    const ip = new FakeIp();
    const pool = new SparePorts(ip.runner, options);
    pool.take('e1', 7, 1450);
    const listedAt = performance.now();
    ip.adds()[0]!.answer();
    await settle();
    const [name] = ip.adds()[0]!.names;
    pool.checkAgainst(new Set(), listedAt); // began before the spare existed: says nothing of it
    expect(pool.take('e2', 7, 1450)).toBe(name);
  });

  it('deletes what a refill made for a pool that went (the device made again, or the network idle), and gives nothing after close', async () => {
    const ip = new FakeIp();
    const pool = new SparePorts(ip.runner, options);
    pool.take('e1', 7, 1450);
    const [req] = ip.adds();
    pool.forget(7); // the VXLAN device was made again meanwhile
    req!.answer();
    await settle();
    expect(ip.deleted()).toEqual(req!.names);
    expect(pool.owns(req!.names[0]!)).toBe(false);
    expect(pool.take('e2', 7, 1450)).toBeUndefined();

    await pool.close();
    const before = ip.requests.length;
    expect(pool.take('e3', 7, 1450)).toBeUndefined();
    await settle();
    expect(ip.requests.length).toBe(before); // no refill after close
  });

  it('starts the pool again for a network whose MTU changed, deleting the spares of the old one', async () => {
    const ip = new FakeIp();
    const pool = new SparePorts(ip.runner, options);
    pool.take('e1', 7, 1450);
    ip.adds()[0]!.answer();
    await settle();
    const [old] = ip.adds()[0]!.names;
    expect(pool.take('e2', 7, 1400)).toBeUndefined();
    expect(ip.deleted()).toContain(old);
  });
});
