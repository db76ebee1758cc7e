import { describe, expect, it } from 'vitest';
import { disjointBatch, TxnBatcher, type TxnFootprint } from '../../src/store/txn-batch.js';

interface Op extends TxnFootprint {
  readonly name: string;
}
const op = (name: string, compares: string[], writes: string[], byPrefix = false): Op => ({ name, compares, writes, byPrefix });
const names = (ops: Op[]) => ops.map((o) => o.name);

describe('disjointBatch', () => {
  it('takes members that touch different keys, up to the limit, and leaves the rest in order', () => {
    const pending = [op('a', ['pool'], ['x']), op('b', ['pool'], ['y']), op('c', ['pool'], ['z'])];
    expect(names(disjointBatch(pending, 2, (o) => o))).toEqual(['a', 'b']);
    expect(names(pending)).toEqual(['c']);
  });

  it('keeps apart a member that writes what another reads or writes, either way round', () => {
    const pending = [
      op('claim x', ['pool'], ['x']),
      op('claim x again', ['pool'], ['x']), // same key written
      op('endpoint on x', ['x'], ['ep1']), // reads what the first writes
      op('delete pool', ['pool2'], ['pool']), // writes what the first reads
      op('claim y', ['pool'], ['y']),
    ];
    expect(names(disjointBatch(pending, 64, (o) => o))).toEqual(['claim x', 'claim y']);
    expect(names(pending)).toEqual(['claim x again', 'endpoint on x', 'delete pool']);
  });

  it('lets a member that deletes by prefix go only alone', () => {
    const first = [op('prefix', ['n'], ['n'], true), op('a', ['p'], ['a'])];
    expect(names(disjointBatch(first, 64, (o) => o))).toEqual(['prefix']);
    const later = [op('a', ['p'], ['a']), op('prefix', ['n'], ['n'], true), op('b', ['p'], ['b'])];
    expect(names(disjointBatch(later, 64, (o) => o))).toEqual(['a', 'b']);
    expect(names(later)).toEqual(['prefix']);
  });
});

/** A fake etcd for the queue: records the batches, answers each member by `outcome`. */
function fakeSend(outcome: (o: Op) => number | undefined | Error) {
  const batches: string[][] = [];
  let release: () => void = () => undefined;
  let gate = Promise.resolve();
  const send = async (batch: readonly Op[]) => {
    batches.push(names([...batch]));
    await gate;
    const results = batch.map(outcome);
    const failure = results.find((r) => r instanceof Error);
    if (failure) throw failure; // etcd refuses a transaction as a whole
    return results as Array<number | undefined>;
  };
  return {
    batches,
    send,
    hold: () => (gate = new Promise((r) => (release = r))),
    release: () => release(),
  };
}

describe('TxnBatcher', () => {
  it('sends a lone transaction at once, and the ones asked for meanwhile together after it', async () => {
    const etcd = fakeSend(() => 7);
    const batcher = new TxnBatcher<Op>(etcd.send, (o) => o, () => false);
    etcd.hold();
    const first = batcher.submit(op('a', ['p'], ['a']));
    const rest = [batcher.submit(op('b', ['p'], ['b'])), batcher.submit(op('c', ['p'], ['c']))];
    expect(etcd.batches).toEqual([['a']]);
    etcd.release();
    etcd.hold();
    await first;
    await Promise.resolve();
    expect(etcd.batches).toEqual([['a'], ['b', 'c']]);
    etcd.release();
    expect(await Promise.all(rest)).toEqual([7, 7]);
  });

  it('works out a member\'s footprint once, however many batches it waits behind', async () => {
    const etcd = fakeSend(() => 3);
    const lookedAt = new Map<string, number>();
    const footprint = (o: Op) => {
      lookedAt.set(o.name, (lookedAt.get(o.name) ?? 0) + 1);
      return o;
    };
    const batcher = new TxnBatcher<Op>(etcd.send, footprint, () => false, {}, 2);
    etcd.hold();
    const all = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => batcher.submit(op(n, ['p'], [n])));
    etcd.release();
    expect(await Promise.all(all)).toEqual([3, 3, 3, 3, 3, 3]);
    // f waited behind three batches before its own.
    expect(etcd.batches).toEqual([['a'], ['b', 'c'], ['d', 'e'], ['f']]);
    expect([...lookedAt.values()]).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('times each commit and each transaction from when it was asked for, the wait for the commit ahead included', async () => {
    const etcd = fakeSend(() => 5);
    const commits: Array<[number, number]> = [];
    const answers: number[] = [];
    const batcher = new TxnBatcher<Op>(etcd.send, (o) => o, () => false, { committed: (s, n) => commits.push([s, n]), answered: (s) => answers.push(s) });
    etcd.hold();
    const first = batcher.submit(op('a', ['p'], ['a']));
    const later = [batcher.submit(op('b', ['p'], ['b'])), batcher.submit(op('c', ['p'], ['c']))];
    await new Promise((r) => setTimeout(r, 200)); // the first commit takes 200 ms
    etcd.release();
    await first;
    await Promise.all(later);
    expect(commits.map(([, n]) => n)).toEqual([1, 2]);
    expect(commits[0]![0]).toBeGreaterThanOrEqual(0.19);
    // The second commit did not wait: it is timed from its own sending (the fake answers it at
    // once), not from when its members were asked for (200 ms earlier).
    expect(commits[1]![0]).toBeLessThan(0.19);
    expect(answers).toHaveLength(3);
    // b and c were asked for when a was, so they waited out a's commit too.
    for (const s of answers.slice(1)) expect(s).toBeGreaterThanOrEqual(0.19);
  });

  it('gives each member its own outcome', async () => {
    const etcd = fakeSend((o) => (o.name === 'lost' ? undefined : 9));
    const batcher = new TxnBatcher<Op>(etcd.send, (o) => o, () => false);
    etcd.hold();
    const held = batcher.submit(op('first', ['p'], ['f']));
    const won = batcher.submit(op('won', ['p'], ['w']));
    const lost = batcher.submit(op('lost', ['p'], ['l']));
    etcd.release();
    expect([await held, await won, await lost]).toEqual([9, 9, undefined]);
  });

  it('fails only the member whose outcome etcd could not tell, and sends nothing again', async () => {
    const sent: string[][] = [];
    const unknown = new Error('outcome unknown');
    const send = async (batch: readonly Op[]) => {
      sent.push(names([...batch]));
      return batch.map((o) => (o.name === 'unknown' ? unknown : 5));
    };
    const batcher = new TxnBatcher<Op>(send, (o) => o, () => false);
    const [known, notKnown] = [batcher.submit(op('known', ['p'], ['k'])), batcher.submit(op('unknown', ['p'], ['u']))];
    await expect(known).resolves.toBe(5);
    await expect(notKnown).rejects.toBe(unknown);
    expect(sent.flat().sort()).toEqual(['known', 'unknown']);
  });

  it('splits a batch etcd refuses, so that only the bad member fails', async () => {
    const etcd = fakeSend((o) => (o.name === 'bad' ? new Error('etcdserver: too many operations in txn request') : 3));
    const batcher = new TxnBatcher<Op>(etcd.send, (o) => o, () => false);
    etcd.hold();
    const held = batcher.submit(op('first', ['p'], ['f']));
    const good = batcher.submit(op('good', ['p'], ['g']));
    const bad = batcher.submit(op('bad', ['p'], ['b']));
    etcd.release();
    await held;
    await expect(good).resolves.toBe(3);
    await expect(bad).rejects.toThrow('too many operations');
    expect(etcd.batches).toEqual([['first'], ['good', 'bad'], ['good'], ['bad']]);
  });

  it('fails the batch and everything waiting at once when etcd cannot be reached', async () => {
    const etcd = fakeSend(() => new Error('unreachable'));
    const batcher = new TxnBatcher<Op>(etcd.send, (o) => o, () => true);
    etcd.hold();
    const first = batcher.submit(op('first', ['p'], ['f']));
    const waiting = [batcher.submit(op('a', ['p'], ['a'])), batcher.submit(op('b', ['p'], ['b']))];
    etcd.release();
    for (const o of [first, ...waiting]) await expect(o).rejects.toThrow('unreachable');
    expect(etcd.batches).toEqual([['first']]); // the waiting ones never went: etcd was gone
  });
});
