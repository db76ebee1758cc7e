/**
 * DeleteNetwork when etcd fails part-way, on a real etcd and real devices in a network namespace
 * (root, as the netns project). The engine forgets the network whatever the plugin answers
 * (libnetwork logs a remote driver's DeleteNetwork error and goes on), so what the call could not
 * finish is the plugin's to finish: the devices and the local entry go at once, the copy record
 * and the cluster network by a retry, and no reconcile pass builds the network back meanwhile.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EngineClient } from '../../src/docker/engine-client.js';
import { Membership } from '../../src/driver/membership.js';
import { PeerSync } from '../../src/driver/peer-sync.js';
import { Reconciler } from '../../src/driver/reconciler.js';
import { unavailable } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { ClusterStore } from '../../src/store/cluster-store.js';
import { driverHostIn } from '../helpers/driver-host.js';
import { makeNetns, type Netns, removeLeftoverNamespaces } from '../helpers/netns.js';
import { waitFor } from '../helpers/wait-for.js';

const endpoint = inject('etcdEndpoint');
beforeAll(() => removeLeftoverNamespaces());
const clients: Array<{ close(): void }> = [];
afterAll(() => clients.forEach((c) => c.close()));

const VTEP = '198.18.211.1';
const VNI = 5401;

/** One host's driver ("h1") on its own key prefix, its devices in `host`. */
function hostIn(host: Netns) {
  const h = driverHostIn(host, endpoint, { vtep: VTEP, defaultPool: '10.41.0.0/16', vni: VNI });
  clients.push(h.kv);
  return h;
}

/** Makes the store's deleteCopy fail its next `times` calls, after (`applied`) or instead of writing. */
function failDeleteCopy(store: ClusterStore, times: number, applied: boolean): () => number {
  const real = store.deleteCopy.bind(store);
  let calls = 0;
  store.deleteCopy = async (node, engineId) => {
    calls++;
    if (calls > times) return real(node, engineId);
    if (applied) await real(node, engineId); // the write reached etcd; its answer did not come back
    throw unavailable('etcd write failed: the test cut it off');
  };
  return () => calls;
}

describe('DeleteNetwork cut off by etcd (real etcd, real devices)', () => {
  it('drops the local network at once, so a later network on the same VNI still removes its devices', async () => {
    await using host = makeNetns('rm');
    const h = hostIn(host);
    try {
      await h.createNetwork('engine-a');
      expect(h.devices()).toHaveLength(2);
      failDeleteCopy(h.store, 1, true);
      await expect(h.driver.deleteNetwork('engine-a')).rejects.toThrow(/etcd write failed/);
      // The engine has forgotten the network now: nothing of it stays here.
      expect(h.devices()).toEqual([]);
      expect(h.local.networks()).toEqual([]);
      // The retry (2 s) finishes the removal: the cluster network goes, and with it its VNI.
      // Waited for until the driver, too, has finished: its last step (forgetting the removal)
      // follows etcd's answer to the delete, which a poll of etcd can see before the driver does.
      await waitFor('the removal finished by the retry', async () => h.local.removalsLeft().length === 0 && (await h.store.listNetworks()).networks.length === 0, 6000);
      expect(await h.store.listCopies('h1')).toEqual([]);

      // A new network takes the freed VNI; removing it removes the devices. (The stale local
      // entry of the first network used to keep them: "another network uses this VNI".)
      await h.createNetwork('engine-b');
      expect(h.devices()).toHaveLength(2);
      await h.driver.deleteNetwork('engine-b');
      expect(h.devices()).toEqual([]);
      expect(h.local.networks()).toEqual([]);
    } finally {
      h.run.close();
    }
  }, 20_000);

  it('retries a copy record etcd would not delete, and no reconcile pass builds the network back meanwhile', async () => {
    await using host = makeNetns('rr');
    const h = hostIn(host);
    const peers = new PeerSync('h1', h.store, h.dataplane, h.local, () => true, silentLogger);
    const membership = new Membership({ name: 'h1', vtep: VTEP, version: 'test', startedAt: new Date().toISOString() }, 10, h.store, { onChange: () => undefined, onReregistered: () => undefined }, silentLogger);
    // The engine cannot be reached: the pass compares no endpoints, and builds networks from etcd alone.
    const engine = new EngineClient('unix:///nonexistent/ts-overlay-test/docker.sock');
    const reconciler = new Reconciler('h1', VTEP, h.store, h.dataplane, h.local, engine, peers, membership, silentLogger);
    reconciler.markServing();
    try {
      await h.createNetwork('engine-a');
      const calls = failDeleteCopy(h.store, 2, false); // DeleteNetwork's call and the first retry's
      await expect(h.driver.deleteNetwork('engine-a')).rejects.toThrow(/etcd write failed/);
      expect(h.devices()).toEqual([]);
      // The copy is still recorded, its network still exists: a pass must leave it removed.
      expect((await h.store.listCopies('h1')).map((c) => c.engineNetworkId)).toEqual(['engine-a']);
      // The pass leaves the removal to the driver's retry (it does not delete the copy itself).
      const beforePass = calls();
      await reconciler.run();
      expect(calls()).toBe(beforePass);
      expect(h.devices()).toEqual([]);
      expect(h.local.networks()).toEqual([]);
      // The first retry (2 s) fails too; the second (4 s) finishes.
      await waitFor('the copy and the cluster network removed by a retry', async () => h.local.removalsLeft().length === 0 && (await h.store.listCopies('h1')).length === 0 && (await h.store.listNetworks()).networks.length === 0, 8000);
      await reconciler.run();
      expect(h.devices()).toEqual([]);
    } finally {
      await peers.stop();
      h.run.close();
    }
  }, 20_000);
});
