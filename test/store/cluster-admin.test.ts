import { afterAll, describe, expect, inject, it } from 'vitest';
import { removeClusterNetwork, waitForPoolRelease } from '../../src/driver/cluster-admin.js';
import { freshStore, ipamFor, sharedNetwork } from '../helpers/store.js';

const endpoint = inject('etcdEndpoint');
const closers: Array<() => void> = [];
afterAll(() => closers.forEach((c) => c()));

/** A cluster with hosts h1 and h2 holding network "life" on 10.0.0.0/24; `alive` have node records. */
async function cluster(alive: string[]) {
  const { kv, store } = freshStore(endpoint);
  closers.push(() => kv.close());
  for (const name of alive) {
    const lease = await store.registerNode({ name, vtep: '192.0.2.1', version: 'test', startedAt: new Date().toISOString() }, 10, () => {});
    closers.push(() => void lease.revoke().catch(() => {}));
  }
  const [h1, h2] = [ipamFor(store, 'h1'), ipamFor(store, 'h2')];
  const { network, poolId } = await sharedNetwork(store, [h1, h2], { id: 'a'.repeat(64), name: 'life', vni: 4200 });
  return { store, network, poolId, h1, h2 };
}

describe('ts-overlay network rm (real etcd)', () => {
  it('returns once every live host let go of the subnet, naming the hosts that are down', async () => {
    const { store, poolId, h1 } = await cluster(['h1']);
    const removed = await removeClusterNetwork(store, 'life');
    const waited = waitForPoolRelease(store, removed, 10_000, 50);
    await new Promise((r) => setTimeout(r, 300));
    await h1.releasePool(poolId); // what h1's engine does after its plugin removed the copy
    expect(await waited).toEqual({ live: [], away: ['h2'] });
    expect((await store.getPool('10.0.0.0/24'))?.value.users).toEqual(['h2']);
  });

  it('gives up after its timeout, naming the live hosts that still hold the subnet', async () => {
    const { store } = await cluster(['h1', 'h2']);
    const removed = await removeClusterNetwork(store, 'life');
    const started = Date.now();
    expect(await waitForPoolRelease(store, removed, 400, 50)).toEqual({ live: ['h1', 'h2'], away: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    // Meanwhile the subnet is refused, saying why it is still taken.
    await expect(ipamFor(store, 'h1').requestPool({ pool: '10.0.0.0/24' })).rejects.toThrow(/being created or removed; held by h1, h2\); choose another --subnet/);
  });

  it('stops waiting when the subnet is already a newer network\'s', async () => {
    const { store, poolId, h1, h2 } = await cluster(['h1', 'h2']);
    const removed = await removeClusterNetwork(store, 'life');
    await h1.releasePool(poolId);
    await h2.releasePool(poolId);
    await new Promise((r) => setTimeout(r, 5)); // a later creation time than the removed network's
    await ipamFor(store, 'h2').requestPool({ pool: '10.0.0.0/24' });
    expect(await waitForPoolRelease(store, removed, 10_000, 50)).toEqual({ live: [], away: [] });
  });

  it('refuses while a host has endpoints, and removes nothing', async () => {
    const { store, network } = await cluster(['h1', 'h2']);
    await store.putEndpoint({ id: 'e'.repeat(64), network: network.id, node: 'h2', ip: '10.0.0.2', mac: '02:00:00:00:00:02', vtep: '192.0.2.2', subnet: '10.0.0.0/24', createdAt: new Date().toISOString() });
    await expect(removeClusterNetwork(store, 'life')).rejects.toThrow(/still has endpoints on h2/);
    expect(await store.getNetwork(network.id)).toBeDefined();
  });
});
