import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import type { EngineClient, EngineNetwork } from '../../src/docker/engine-client.js';
import { Propagation } from '../../src/driver/propagation.js';
import { silentLogger } from '../../src/lib/logger.js';
import { sleep } from '../../src/lib/retry.js';
import type { NetworkRecord } from '../../src/store/records.js';
import { freshStore } from '../helpers/store.js';

const endpoint = inject('etcdEndpoint');
const clients: Array<{ close(): void }> = [];
afterAll(() => clients.forEach((c) => c.close()));

const ID = 'e'.repeat(64);

describe('network propagation while a network is being created here (real etcd)', () => {
  it('does not remove a network whose record was written while the sync was reading', async () => {
    const { kv, store } = freshStore(endpoint);
    clients.push(kv);
    const { guardRevision } = await store.listPools();
    await store.createPool({ subnet: '10.3.0.0/24', users: ['h1'], createdBy: 'h1', createdAt: new Date().toISOString() }, guardRevision);
    const pool = (await store.getPool('10.3.0.0/24'))!;
    const record: NetworkRecord = {
      id: ID, vni: 7300, subnet: '10.3.0.0/24', gateway: '10.3.0.1/24', auxAddresses: {}, options: {}, internal: false,
      attachable: false, labels: {}, createdBy: 'h1', createdAt: new Date().toISOString(),
    };
    const inEngine: EngineNetwork = {
      Id: ID, Name: 'demo', Driver: 'ts-overlay', Internal: false, Attachable: false, EnableIPv6: false, Options: {}, Labels: {},
      IPAM: { Driver: 'ts-overlay', Options: {}, Config: [{ Subnet: '10.3.0.0/24', Gateway: '10.3.0.1' }] },
    };

    // The sync's reading of etcd, when it makes one before the engine answers, is let through
    // first; then CreateNetwork happens (the record, then the engine has the network); then
    // the engine answers the sync's listing, with the network in it.
    let etcdListed: () => void = () => undefined;
    const etcdRead = new Promise<void>((resolve) => (etcdListed = resolve));
    const listNetworks = store.listNetworks.bind(store);
    let syncs = 0;
    store.listNetworks = async () => {
      const listing = await listNetworks();
      etcdListed();
      syncs++;
      return listing;
    };
    const removeNetwork = vi.fn(async () => undefined);
    const engine = {
      listNetworks: async () => {
        await Promise.race([etcdRead, sleep(300)]);
        expect(await store.createNetwork(record, pool)).toBe(true);
        return [inEngine];
      },
      removeNetwork,
      createNetwork: async () => {
        throw new Error('the test makes no network on the engine');
      },
    } as unknown as EngineClient;

    const propagation = new Propagation('ts-overlay', engine, store, silentLogger);
    propagation.schedule();
    await vi.waitFor(() => expect(syncs).toBe(1), { timeout: 5000 });
    // The sync goes on to publish the network's name: wait until it is there.
    await vi.waitFor(async () => expect((await store.getNetwork(ID))?.value.name).toBe('demo'), { timeout: 5000 });
    expect(removeNetwork).not.toHaveBeenCalled();
    expect((await store.getNetwork(ID))?.value.vni).toBe(7300);
  });
});
