import { describe, expect, it } from 'vitest';
import { PendingPublishes } from '../../src/driver/pending-publishes.js';

/** A publish the test finishes by hand. */
function deferred() {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('PendingPublishes', () => {
  it('lets settle() wait for a write under way, and forgets a write that succeeded', async () => {
    const p = new PendingPublishes();
    const write = deferred();
    p.start('e1', () => write.promise);
    let settled = false;
    const waiting = p.settle('e1').then(() => (settled = true));
    await tick();
    expect(settled).toBe(false);
    write.resolve();
    await waiting;
    expect(settled).toBe(true);
    await expect(p.settle('e1')).resolves.toBeUndefined();
  });

  it('holds a failure, never an unhandled rejection: settle() throws it each time, finish() returns it once', async () => {
    const p = new PendingPublishes();
    const unhandled: unknown[] = [];
    const onUnhandled = (err: unknown) => unhandled.push(err);
    process.on('unhandledRejection', onUnhandled);
    try {
      p.start('e1', () => Promise.reject(new Error('address 10.0.0.2 is not allocated to this host')));
      await tick();
      await tick();
      expect(unhandled).toEqual([]);
      // Join refuses with it, and so would a Join sent again; the engine's DeleteEndpoint takes it.
      await expect(p.settle('e1')).rejects.toThrow(/not allocated to this host/);
      await expect(p.settle('e1')).rejects.toThrow(/not allocated to this host/);
      expect(String(await p.finish('e1'))).toMatch(/not allocated to this host/);
      expect(await p.finish('e1')).toBeUndefined();
      await expect(p.settle('e1')).resolves.toBeUndefined();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('resolves at once for an endpoint with nothing pending, and keeps endpoints apart', async () => {
    const p = new PendingPublishes();
    const slow = deferred();
    p.start('slow', () => slow.promise);
    p.start('failed', () => Promise.reject(new Error('etcd: request timed out')));
    await expect(p.settle('never started')).resolves.toBeUndefined();
    expect(await p.finish('never started')).toBeUndefined();
    await expect(p.settle('failed')).rejects.toThrow(/timed out/);
    slow.resolve();
    await expect(p.settle('slow')).resolves.toBeUndefined();
  });

  it('drain() waits for every write under way, failed ones included', async () => {
    const p = new PendingPublishes();
    const a = deferred();
    const b = deferred();
    p.start('a', () => a.promise);
    p.start('b', () => b.promise);
    let drained = false;
    const draining = p.drain().then(() => (drained = true));
    a.resolve();
    await tick();
    expect(drained).toBe(false);
    b.reject(new Error('etcd: request timed out'));
    await draining;
    expect(drained).toBe(true);
  });
});
