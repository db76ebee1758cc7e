/**
 * DeleteEndpoint whose delete reached etcd though its answer did not (real etcd, real devices in
 * a network namespace, an engine of the test's on a socket): the endpoint stays in the host's
 * local state, with nothing in etcd or the engine left to show it. The next reconcile pass
 * forgets it, else the address would stay refused to ReleaseAddress while the process runs.
 */
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EngineClient } from '../../src/docker/engine-client.js';
import { Membership } from '../../src/driver/membership.js';
import { PeerSync } from '../../src/driver/peer-sync.js';
import { Reconciler } from '../../src/driver/reconciler.js';
import { unavailable } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import { noMetrics } from '../../src/metrics/ports.js';
import { driverHostIn } from '../helpers/driver-host.js';
import { FakeEngine } from '../helpers/fake-engine.js';
import { makeNetns, removeLeftoverNamespaces } from '../helpers/netns.js';

const endpoint = inject('etcdEndpoint');
beforeAll(() => removeLeftoverNamespaces());
const clients: Array<{ close(): void }> = [];
afterAll(() => clients.forEach((c) => c.close()));

const VTEP = '198.18.212.1';
const GRACE_MS = 300;

describe('DeleteEndpoint whose answer from etcd was lost (real etcd, real devices)', () => {
  it('leaves the endpoint in local state until the next pass, which forgets it, but not one whose record is on its way', async () => {
    await using host = makeNetns('dl');
    const { kv, store, run, dataplane, local, ipam, driver, createNetwork } = driverHostIn(host, endpoint, { vtep: VTEP, defaultPool: '10.42.0.0/16' });
    clients.push(kv);
    const engine = new FakeEngine(join(tmpdir(), `tso-engine-${randomBytes(4).toString('hex')}.sock`));
    await engine.start();
    const peers = new PeerSync('h1', store, dataplane, local, () => true, silentLogger);
    const membership = new Membership({ name: 'h1', vtep: VTEP, version: 'test', startedAt: new Date().toISOString() }, 10, store, { onChange: () => undefined, onReregistered: () => undefined }, silentLogger);
    const reconciler = new Reconciler('h1', VTEP, store, dataplane, local, new EngineClient(`unix://${engine.socket}`), peers, membership, silentLogger, noMetrics, GRACE_MS, async () => undefined, (id) => driver.endpointWritePending(id));
    reconciler.markServing();
    try {
      const { poolId, subnet } = await createNetwork('engine-a');
      engine.addNetwork({
        Id: 'engine-a', Name: 'demo', Driver: 'ts-overlay', Internal: false, Attachable: false, EnableIPv6: false, Options: {}, Labels: {},
        IPAM: { Driver: 'ts-overlay', Options: {}, Config: [{ Subnet: subnet }] }, Containers: {},
      });
      const address = await ipam.requestAddress({ poolId, kind: 'endpoint' });
      const id = 'd'.repeat(64);
      await driver.createEndpoint({ networkId: 'engine-a', endpointId: id, address, addressIPv6: '', macAddress: '' });
      await driver.settleWrites();
      expect(await store.listEndpointEntries()).toHaveLength(1);

      // The delete reaches etcd; its answer does not come back.
      const real = store.deleteEndpoint.bind(store);
      store.deleteEndpoint = async (network, endpointId) => {
        await real(network, endpointId);
        throw unavailable('etcd write failed: the test cut it off');
      };
      await expect(driver.deleteEndpoint('engine-a', id)).rejects.toThrow(/the test cut it off/);
      expect(await store.listEndpointEntries()).toEqual([]);
      expect(local.endpoint(id)).toBeDefined();

      await new Promise((r) => setTimeout(r, GRACE_MS + 50)); // no longer a young endpoint
      await reconciler.run();
      expect(local.endpoint(id)).toBeUndefined();
      expect(local.endpointOn(subnet, address.split('/')[0]!)).toBeUndefined();

      // An endpoint whose record is still on its way to etcd (etcd slow) stays, however old.
      store.deleteEndpoint = real;
      let letWrite: () => void = () => undefined;
      const realPut = store.putEndpointRevision.bind(store);
      store.putEndpointRevision = async (...args) => {
        await new Promise<void>((r) => (letWrite = r));
        return realPut(...args);
      };
      const id2 = 'e'.repeat(64);
      await driver.createEndpoint({ networkId: 'engine-a', endpointId: id2, address: await ipam.requestAddress({ poolId, kind: 'endpoint' }), addressIPv6: '', macAddress: '' });
      await new Promise((r) => setTimeout(r, GRACE_MS + 50));
      await reconciler.run();
      expect(local.endpoint(id2)).toBeDefined();
      letWrite();
      await driver.settleWrites();
    } finally {
      await peers.stop();
      run.close();
      await engine.stop();
    }
  }, 20_000);
});
