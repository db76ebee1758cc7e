/**
 * ReleasePool when etcd refuses it (real etcd, the failure injected at the store): the engine
 * forgets the pool whatever the plugin answers, so the plugin releases its share later itself,
 * unless this host has joined the pool again by then.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { unavailable } from '../../src/lib/errors.js';
import type { ClusterStore } from '../../src/store/cluster-store.js';
import { freshStore, ipamFor } from '../helpers/store.js';
import { waitFor } from '../helpers/wait-for.js';

const endpoint = inject('etcdEndpoint');
const clients: Array<{ close(): void }> = [];
afterAll(() => clients.forEach((c) => c.close()));

/** A pool made by h1 and shared by h2, as a network on both hosts has it. */
async function sharedPool() {
  const { kv, store } = freshStore(endpoint);
  clients.push(kv);
  const [h1, h2] = [ipamFor(store, 'h1'), ipamFor(store, 'h2')];
  const { poolId, subnet } = await h1.requestPool({});
  const copy = { id: 'n'.repeat(64), subnet, createdAt: new Date().toISOString() };
  await h2.requestPool({ clusterNetwork: copy });
  const users = async () => (await store.getPool(subnet))?.value.users;
  return { store, h1, poolId, copy, users };
}

/** The store's next pool update fails as when etcd is away. */
function failNextPoolUpdate(store: ClusterStore): void {
  const real = store.updatePool.bind(store);
  let failed = false;
  store.updatePool = async (...args) => {
    if (failed) return real(...args);
    failed = true;
    throw unavailable('etcd write failed: the test cut it off');
  };
}

describe('ReleasePool refused by etcd (real etcd)', () => {
  it('is retried until etcd takes it', async () => {
    const { store, h1, poolId, users } = await sharedPool();
    failNextPoolUpdate(store);
    await expect(h1.releasePool(poolId)).rejects.toThrow(/etcd write failed/);
    expect(await users()).toEqual(['h1', 'h2']);
    // The retry (2 s) lets go of h1's share; the subnet is no longer held by a host that has no network on it.
    await waitFor('h1 out of the pool', async () => JSON.stringify(await users()) === '["h2"]', 5000);
  });

  it('is dropped once the host joins the pool again, so the late release cannot take it from the new copy', async () => {
    const { store, h1, poolId, copy, users } = await sharedPool();
    failNextPoolUpdate(store);
    await expect(h1.releasePool(poolId)).rejects.toThrow(/etcd write failed/);
    // The network comes back to h1 (propagation restores it while h2 still uses it): h1 joins again.
    expect((await h1.requestPool({ clusterNetwork: copy })).poolId).toBe(poolId);
    await new Promise((r) => setTimeout(r, 3000)); // past the retry's 2 s
    expect(await users()).toEqual(['h1', 'h2']);
  });

  it('is not retried after stopRetries, as when the plugin stops (a retry already under way arms no other: pending-retry.test.ts)', async () => {
    const { store, h1, poolId, users } = await sharedPool();
    failNextPoolUpdate(store);
    await expect(h1.releasePool(poolId)).rejects.toThrow(/etcd write failed/);
    h1.stopRetries();
    await new Promise((r) => setTimeout(r, 3000)); // past the retry's 2 s
    expect(await users()).toEqual(['h1', 'h2']);
  });
});
