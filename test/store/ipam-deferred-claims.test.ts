import { afterAll, describe, expect, inject, it } from 'vitest';
import { parseCidr } from '../../src/ipam/cidr.js';
import { IpamService } from '../../src/ipam/ipam-service.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { ClusterStore } from '../../src/store/cluster-store.js';
import type { EndpointRecord } from '../../src/store/records.js';
import { freshStore, sharedNetwork } from '../helpers/store.js';

/**
 * An address RequestAddress picks from its host's own stripe is claimed with the endpoint, in
 * the transaction that publishes it (one etcd round trip per container; CreateEndpoint takes
 * the claim and starts the transaction, Join waits for it). These tests hold that to the
 * guarantees of a claim written at once.
 */
const endpoint = inject('etcdEndpoint');
const clients: Array<{ close(): void }> = [];
afterAll(() => clients.forEach((c) => c.close()));

const NET = 'd'.repeat(64);
const ipamOf = (store: ClusterStore, node: string, index: number, settled = true, endpointOn?: (subnet: string, ip: string) => string | undefined) =>
  new IpamService(store, { node, defaultPool: parseCidr('10.0.0.0/8')!, poolSize: 24, stripe: () => ({ index, count: 2, settled }), ...(endpointOn ? { endpointOn } : {}) }, silentLogger);

/** Hosts h1 and h2 (stripes 0 and 1 of 2) sharing network NET on 10.0.0.0/24. */
async function cluster() {
  const { kv, store } = freshStore(endpoint);
  clients.push(kv);
  const [h1, h2] = [ipamOf(store, 'h1', 0), ipamOf(store, 'h2', 1)];
  const { poolId } = await sharedNetwork(store, [h1, h2], { id: NET, vni: 4300 });
  return { store, h1, h2, poolId };
}

let endpoints = 0;
/** What CreateEndpoint (then Join) does with the address: publish an endpoint on it through its claim. */
async function createEndpoint(store: ClusterStore, ipam: IpamService, node: string, address: string) {
  const ip = address.split('/')[0]!;
  const record: EndpointRecord = { id: String(++endpoints).padStart(64, 'e'), network: NET, node, vtep: '192.0.2.1', mac: '02:00:00:00:00:01', ip, subnet: '10.0.0.0/24', createdAt: new Date().toISOString() };
  const claim = await ipam.takeClaim('10.0.0.0/24', ip);
  return ipam.publishOnClaim('10.0.0.0/24', ip, claim, (c) => store.putEndpointRevision(record, c));
}

describe('claims written by CreateEndpoint (real etcd)', () => {
  it('writes nothing at RequestAddress and the claim with the endpoint, never giving one address twice', async () => {
    const { store, h1, h2, poolId } = await cluster();
    const picked = await Promise.all([h1, h2, h1, h2, h1, h2].map((h) => h.requestAddress({ poolId, kind: 'endpoint' })));
    expect(new Set(picked).size).toBe(6);
    expect((await store.listAddresses('10.0.0.0/24')).map((a) => a.ip)).toEqual([]);
    await Promise.all(picked.map((a, i) => createEndpoint(store, i % 2 ? h2 : h1, i % 2 ? 'h2' : 'h1', a)));
    const claims = await store.listAddresses('10.0.0.0/24');
    expect(claims.map((a) => `${a.ip} ${a.node}`).sort()).toEqual(picked.map((a, i) => `${a.split('/')[0]} h${(i % 2) + 1}`).sort());
    expect((await store.listEndpoints(NET)).endpoints).toHaveLength(6);
  });

  it('lets another host\'s --ip of the address win in between; the endpoint\'s publish then fails naming the holder, and writes nothing', async () => {
    const { store, h1, h2, poolId } = await cluster();
    const address = await h1.requestAddress({ poolId, kind: 'endpoint' });
    const ip = address.split('/')[0]!;
    expect(await h2.requestAddress({ poolId, kind: 'endpoint', address: ip })).toBe(address);
    await expect(createEndpoint(store, h1, 'h1', address)).rejects.toThrow(new RegExp(`address ${ip.replace(/\./g, '\\.')} is not allocated to this host .*endpoint on h2 now`));
    expect((await store.listEndpoints(NET)).endpoints).toEqual([]);
    expect((await store.getAddress('10.0.0.0/24', ip))?.value.node).toBe('h2');
    // h1 does not pick it again: the book knows who holds it.
    expect(await h1.requestAddress({ poolId, kind: 'endpoint' })).not.toBe(address);
  });

  it('refuses --ip on its own host of an address handed out and not yet claimed', async () => {
    const { h1, poolId } = await cluster();
    const ip = (await h1.requestAddress({ poolId, kind: 'endpoint' })).split('/')[0]!;
    await expect(h1.requestAddress({ poolId, kind: 'endpoint', address: ip })).rejects.toThrow(/already in use \(endpoint on h1, being created\)/);
  });

  it('gives a released address out again, with nothing left in etcd', async () => {
    const { store, h1, poolId } = await cluster();
    const first = await h1.requestAddress({ poolId, kind: 'endpoint' });
    await h1.releaseAddress(poolId, first);
    expect(await h1.requestAddress({ poolId, kind: 'endpoint' })).toBe(first);
    expect(await store.listAddresses('10.0.0.0/24')).toEqual([]);
  });

  it('refuses at CreateEndpoint an address a restarted plugin handed out without a claim, and one never handed out', async () => {
    const { store, h1, poolId } = await cluster();
    const address = await h1.requestAddress({ poolId, kind: 'endpoint' });
    const restarted = ipamOf(store, 'h1', 0); // knows nothing of the first process's picks
    await expect(createEndpoint(store, restarted, 'h1', address)).rejects.toThrow(/is not allocated to this host .*released meanwhile.*start the container again/);
    await expect(createEndpoint(store, h1, 'h1', '10.0.0.200/24')).rejects.toThrow(/10\.0\.0\.200 is not allocated to this host/);
    expect(await store.listAddresses('10.0.0.0/24')).toEqual([]);
    expect((await store.listEndpoints(NET)).endpoints).toEqual([]);
  });

  it('keeps an address whose CreateEndpoint failed on etcd until the engine gives it back', async () => {
    const { h1, poolId } = await cluster();
    const address = await h1.requestAddress({ poolId, kind: 'endpoint' });
    const ip = address.split('/')[0]!;
    const claim = await h1.takeClaim('10.0.0.0/24', ip);
    await expect(h1.publishOnClaim('10.0.0.0/24', ip, claim, () => Promise.reject(new Error('etcd: request timed out')))).rejects.toThrow(/timed out/);
    expect(await h1.requestAddress({ poolId, kind: 'endpoint' })).not.toBe(address); // still this container's
    await h1.releaseAddress(poolId, address); // what the engine does when the endpoint's Join fails
    expect(await h1.requestAddress({ poolId, kind: 'endpoint' })).toBe(address);
  });

  it('claims at RequestAddress while the stripes have not settled since a node came or went', async () => {
    const { store, poolId } = await cluster();
    const unsettled = ipamOf(store, 'h1', 0, false);
    const address = await unsettled.requestAddress({ poolId, kind: 'endpoint' });
    expect((await store.getAddress('10.0.0.0/24', address.split('/')[0]!))?.value.node).toBe('h1');
    expect(await createEndpoint(store, unsettled, 'h1', address)).toBe(true);
  });

  it('ignores a late ReleaseAddress for an address an endpoint of this host uses, and frees it once none does', async () => {
    // A container whose endpoint never reached etcd before a restart gives its address back
    // after the restarted plugin handed it to another endpoint (the engine sends DeleteEndpoint
    // before ReleaseAddress, so an endpoint still here means the release is not its own).
    const { store, h1, poolId } = await cluster();
    const address = await h1.requestAddress({ poolId, kind: 'endpoint' });
    const ip = address.split('/')[0]!;
    expect(await createEndpoint(store, h1, 'h1', address)).toBe(true);
    let user: string | undefined = 'e'.repeat(64);
    const restarted = ipamOf(store, 'h1', 0, true, (subnet, a) => (subnet === '10.0.0.0/24' && a === ip ? user : undefined));
    await restarted.releaseAddress(poolId, address);
    expect((await store.getAddress('10.0.0.0/24', ip))?.value.node).toBe('h1');
    user = undefined; // its DeleteEndpoint came: now the release is its own
    await restarted.releaseAddress(poolId, address);
    expect(await store.getAddress('10.0.0.0/24', ip)).toBeUndefined();
  });

  it('publishes nothing, and claims nothing, once the network is gone', async () => {
    const { store, h1, poolId } = await cluster();
    const address = await h1.requestAddress({ poolId, kind: 'endpoint' });
    expect(await store.deleteNetwork((await store.getNetwork(NET))!)).toBe(true);
    expect(await createEndpoint(store, h1, 'h1', address)).toBe(false);
    expect(await store.listAddresses('10.0.0.0/24')).toEqual([]);
  });
});
