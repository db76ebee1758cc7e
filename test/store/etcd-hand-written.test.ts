import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../../src/lib/logger.js';
import { EtcdKv } from '../../src/store/etcd-kv.js';

const endpoint = inject('etcdEndpoint');
const kvs: EtcdKv[] = [];
afterAll(() => kvs.forEach((k) => k.close()));
const fresh = () => {
  const kv = new EtcdKv({ endpoints: [endpoint], prefix: `/test-${randomUUID()}/`, callTimeoutMs: 5000 }, silentLogger);
  kvs.push(kv);
  return kv;
};

describe('values written into etcd by hand (real etcd)', () => {
  it('leaves a value that is not JSON out of a listing, and lists the rest', async () => {
    const kv = fresh();
    await kv.txn({ compare: [{ key: 'things/a', modRevision: 0 }], put: [['things/a', { n: 1 }]] });
    await kv.client.put('things/b').value('{not json');
    await kv.txn({ compare: [{ key: 'things/c', modRevision: 0 }], put: [['things/c', { n: 3 }]] });
    const { entries } = await kv.list<{ n: number }>('things/');
    expect(entries.map((e) => [e.key, e.value.n])).toEqual([['things/a', 1], ['things/c', 3]]);
  });

  it('keeps a watch going when its handler throws on a value, and delivers the next ones', async () => {
    const kv = fresh();
    const { revision } = await kv.list('w/');
    const seen: string[] = [];
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    const watch = kv.watch('w/', revision, {
      onPut: (key, value) => {
        seen.push(key);
        // As a consumer does with a record of the wrong shape.
        (value as { names: string[] }).names.map((n) => n.toLowerCase());
      },
      onDelete: () => undefined,
      onResync: () => undefined,
    });
    try {
      await kv.client.put('w/1').value('null');
      await kv.client.put('w/2').value('{"names":[null]}');
      await kv.client.put('w/3').value('{"names":["ok"]}');
      await expect.poll(() => seen, { timeout: 5000 }).toEqual(['w/1', 'w/2', 'w/3']);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await watch.close();
    }
  });
});
