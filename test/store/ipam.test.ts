import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { IpamService } from '../../src/ipam/ipam-service.js';
import { parseCidr } from '../../src/ipam/cidr.js';
import { unavailable } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { ClusterStore } from '../../src/store/cluster-store.js';
import type { EndpointRecord } from '../../src/store/records.js';
import { freshStore, ipamFor, sharedNetwork } from '../helpers/store.js';

/** A host's copy of a cluster network whose pool is `subnet` (made just now). */
const copyOf = (subnet: string, id = 'n'.repeat(64)) => ({ id, subnet, createdAt: new Date().toISOString() });

const endpoint = inject('etcdEndpoint');
const clients: Array<{ close(): void }> = [];
afterAll(() => clients.forEach((c) => c.close()));

function cluster() {
  const { kv, store } = freshStore(endpoint);
  clients.push(kv);
  return { kv, store, h1: ipamFor(store, 'h1'), h2: ipamFor(store, 'h2'), h3: ipamFor(store, 'h3') };
}

describe('pools (real etcd)', () => {
  it('gives the first network 10.0.0.0/24 and the next ones distinct subnets', async () => {
    const { h1, h2 } = cluster();
    expect((await h1.requestPool({})).subnet).toBe('10.0.0.0/24');
    expect((await h2.requestPool({})).subnet).toBe('10.0.1.0/24');
  });

  it('never hands out overlapping subnets when hosts ask at the same moment', async () => {
    const { h1, h2, h3 } = cluster();
    const pools = await Promise.all(Array.from({ length: 30 }, (_, i) => [h1, h2, h3][i % 3]!.requestPool({})));
    expect(new Set(pools.map((p) => p.subnet)).size).toBe(30);
  });

  it('refuses a user subnet that overlaps any network of the cluster, naming it', async () => {
    const { h1, h2 } = cluster();
    await h1.requestPool({ pool: '10.5.0.0/16' });
    await expect(h2.requestPool({ pool: '10.5.3.0/24' })).rejects.toThrow(/10\.5\.3\.0\/24 overlaps 10\.5\.0\.0\/16.*created on h1/);
    await expect(h2.requestPool({ pool: '10.0.0.0/8' })).rejects.toThrow(/overlaps/);
  });

  it('lets exactly one of two hosts win the same user subnet at the same moment', async () => {
    const { h1, h2 } = cluster();
    const results = await Promise.allSettled([h1.requestPool({ pool: '172.30.0.0/24' }), h2.requestPool({ pool: '172.30.0.0/24' })]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
  });

  it('refuses an ip-range outside its subnet and malformed subnets', async () => {
    const { h1 } = cluster();
    await expect(h1.requestPool({ pool: '10.9.0.0/24', subPool: '10.9.1.0/25' })).rejects.toThrow(/not inside/);
    await expect(h1.requestPool({ pool: '10.9.0.1/24' })).rejects.toThrow(/zero host bits/);
  });

  it('frees a shared pool only when its last host releases it', async () => {
    const { h1, h2, store } = cluster();
    const { poolId, subnet } = await h1.requestPool({});
    expect((await h2.requestPool({ clusterNetwork: copyOf(subnet) })).poolId).toBe(poolId);
    await h1.requestAddress({ poolId, kind: 'endpoint' });
    await h1.releasePool(poolId);
    expect((await store.getPool(subnet))?.value.users).toEqual(['h2']);
    await h2.releasePool(poolId);
    expect(await store.getPool(subnet)).toBeUndefined();
    expect(await store.listAddresses(subnet)).toEqual([]);
    await h2.releasePool(poolId); // twice is fine
  });

  it("ignores a late ReleasePool of an earlier pool of the subnet, from the host that holds the new one", async () => {
    // Found by the fault suite's random kills: a host's engine removes network N (ReleasePool
    // before DeleteNetwork), its propagation meanwhile asks for a copy of N (N's record still
    // exists) and joins N's pool, the removal frees it, the copy's CreateNetwork is refused, a
    // new network on the same host gets the subnet, and then the copy's undo releases the pool.
    // With the subnet as the only name, that late release freed the new network's pool.
    const { h1, store } = cluster();
    const old = await h1.requestPool({ pool: '10.68.0.0/24' });
    const copy = await h1.requestPool({ clusterNetwork: copyOf('10.68.0.0/24') }); // already a user: same pool
    expect(copy.poolId).toBe(old.poolId);
    await h1.releasePool(old.poolId); // the removal
    const fresh = await h1.requestPool({ pool: '10.68.0.0/24' }); // the new network
    expect(fresh.poolId).not.toBe(old.poolId);
    expect(fresh.poolId).toMatch(/^10\.68\.0\.0\/24@[0-9a-f]{12}$/);
    const address = await h1.requestAddress({ poolId: fresh.poolId, kind: 'endpoint' });
    await h1.releasePool(copy.poolId); // the copy's late undo: a no-op
    await h1.releaseAddress(copy.poolId, address); // as is a late release of an address by the old pool's ID
    await expect(h1.requestAddress({ poolId: copy.poolId, kind: 'endpoint' })).rejects.toThrow(/not allocated/);
    expect((await store.getPool('10.68.0.0/24'))?.value.users).toEqual(['h1']);
    expect((await store.getAddress('10.68.0.0/24', address.split('/')[0]!))?.value.node).toBe('h1');
    // A plain subnet (the PoolID of networks made before generations) names whatever pool is there.
    await h1.releasePool('10.68.0.0/24');
    expect(await store.getPool('10.68.0.0/24')).toBeUndefined();
  });

  it('lets a copy join only its own network\'s pool, not a newer network\'s that got the subnet meanwhile', async () => {
    // Docker's network rm sends ReleasePool before DeleteNetwork: in between, the old network's
    // record still exists and its subnet may already be a new network's pool. A host copying
    // the old network then must not join (and later release) the new network's pool.
    const { h1, h2, store } = cluster();
    const old = copyOf('10.67.0.0/24', 'a'.repeat(64));
    await new Promise((r) => setTimeout(r, 5)); // the new pool is younger than the old network
    await h1.requestPool({ pool: '10.67.0.0/24' });
    await expect(h2.requestPool({ clusterNetwork: old })).rejects.toThrow(/pool 10\.67\.0\.0\/24 of cluster network a+ no longer exists/);
    // Bound to its network by CreateNetwork: a copy of that network joins, of another does not.
    const pool = (await store.getPool('10.67.0.0/24'))!;
    expect(await store.updatePool({ ...pool.value, network: 'c'.repeat(64) }, pool.modRevision)).toBe(true);
    await expect(h2.requestPool({ clusterNetwork: old })).rejects.toThrow(/no longer exists/);
    await h2.requestPool({ clusterNetwork: { ...old, id: 'c'.repeat(64) } });
    expect((await store.getPool('10.67.0.0/24'))?.value.users).toEqual(['h1', 'h2']);
  });
});

describe('addresses (real etcd)', () => {
  it('reserves the gateway once and shares it with other hosts\' copies', async () => {
    const { h1, h2 } = cluster();
    const { poolId, subnet } = await h1.requestPool({});
    expect(await h1.requestAddress({ poolId, kind: 'gateway' })).toBe('10.0.0.1/24');
    await h2.requestPool({ clusterNetwork: copyOf(subnet) });
    expect(await h2.requestAddress({ poolId, kind: 'gateway', address: '10.0.0.1' })).toBe('10.0.0.1/24');
    expect(await h1.requestAddress({ poolId, kind: 'endpoint' })).toBe('10.0.0.2/24');
  });

  it('never gives one address to two endpoints, with 3 hosts asking 60 times at once', async () => {
    const { h1, h2, h3 } = cluster();
    const { poolId, subnet } = await h1.requestPool({});
    await h2.requestPool({ clusterNetwork: copyOf(subnet) });
    await h3.requestPool({ clusterNetwork: copyOf(subnet) });
    const got = await Promise.all(Array.from({ length: 60 }, (_, i) => [h1, h2, h3][i % 3]!.requestAddress({ poolId, kind: 'endpoint' })));
    expect(new Set(got).size).toBe(60);
  });

  it('honours --ip and refuses an address in use, naming its holder', async () => {
    const { h1, h2 } = cluster();
    const { poolId } = await h1.requestPool({});
    expect(await h1.requestAddress({ poolId, kind: 'endpoint', address: '10.0.0.77' })).toBe('10.0.0.77/24');
    await expect(h2.requestAddress({ poolId, kind: 'endpoint', address: '10.0.0.77' })).rejects.toThrow(/10\.0\.0\.77 is already in use \(endpoint on h1\)/);
    await expect(h1.requestAddress({ poolId, kind: 'endpoint', address: '10.1.0.1' })).rejects.toThrow(/not a usable address/);
    await expect(h1.requestAddress({ poolId, kind: 'endpoint', address: '10.0.0.255' })).rejects.toThrow(/not a usable address/);
  });

  it('allocates inside the ip-range only', async () => {
    const { h1 } = cluster();
    const { poolId } = await h1.requestPool({ pool: '10.20.0.0/24', subPool: '10.20.0.128/30' });
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await h1.requestAddress({ poolId, kind: 'endpoint' }));
    // .128 is an ordinary host address of the /24: only the subnet's own ends are excluded.
    expect(got).toEqual(['10.20.0.128/24', '10.20.0.129/24', '10.20.0.130/24', '10.20.0.131/24']);
    await expect(h1.requestAddress({ poolId, kind: 'endpoint' })).rejects.toThrow(/no free address left in 10\.20\.0\.128\/30/);
  });

  it('returns a released address to the pool; the gateway stays', async () => {
    const { h1 } = cluster();
    const { poolId } = await h1.requestPool({});
    await h1.requestAddress({ poolId, kind: 'gateway' });
    const a = await h1.requestAddress({ poolId, kind: 'endpoint' });
    await h1.releaseAddress(poolId, a);
    await h1.releaseAddress(poolId, '10.0.0.1/24');
    expect(await h1.requestAddress({ poolId, kind: 'endpoint' })).toBe(a);
    await expect(h1.requestAddress({ poolId, kind: 'endpoint', address: '10.0.0.1' })).rejects.toThrow(/in use \(gateway/);
  });

  it('offers an address again after etcd failed its claim, instead of counting it taken', async () => {
    const { store, h1 } = cluster();
    const { poolId } = await h1.requestPool({ pool: '10.7.0.0/29' });
    await h1.requestAddress({ poolId, kind: 'gateway' });
    const real = store.claimAddress.bind(store);
    store.claimAddress = async () => {
      throw unavailable('etcd write failed: the test cut it off');
    };
    await expect(h1.requestAddress({ poolId, kind: 'endpoint' })).rejects.toThrow(/the test cut it off/);
    store.claimAddress = real;
    expect(await h1.requestAddress({ poolId, kind: 'endpoint' })).toBe('10.7.0.2/29');
    // Every usable address can still be had: none was lost to the failed claim.
    for (const ip of ['10.7.0.3', '10.7.0.4', '10.7.0.5', '10.7.0.6']) expect(await h1.requestAddress({ poolId, kind: 'endpoint' })).toBe(`${ip}/29`);
    await expect(h1.requestAddress({ poolId, kind: 'endpoint' })).rejects.toThrow(/no free address/);
  });

  it('refuses to allocate in a released pool', async () => {
    const { h1 } = cluster();
    const { poolId } = await h1.requestPool({});
    await h1.releasePool(poolId);
    await expect(h1.requestAddress({ poolId, kind: 'endpoint' })).rejects.toThrow(/not allocated/);
  });
});

describe('releasing addresses (real etcd)', () => {
  it("a host's ReleaseAddress never frees another host's claim of the same address", async () => {
    // The race found by test/hardening/races.test.ts: h1's late ReleaseAddress for an address
    // that was freed meanwhile and handed to h2's container must leave h2's claim alone.
    const { store, h1, h2 } = cluster();
    const { poolId } = await h1.requestPool({ pool: '10.66.0.0/24' });
    await h2.requestPool({ clusterNetwork: copyOf('10.66.0.0/24') });
    const address = await h2.requestAddress({ poolId, address: '10.66.0.9', kind: 'endpoint' });
    await h1.releaseAddress(poolId, address);
    expect((await store.getAddress('10.66.0.0/24', '10.66.0.9'))?.value.node).toBe('h2');
    await h2.releaseAddress(poolId, address);
    expect(await store.getAddress('10.66.0.0/24', '10.66.0.9')).toBeUndefined();
  });
});

/**
 * Holds the next call of a store method at its start until `open()`: one call only, so the
 * calls made while it waits go through.
 */
function holdNextCall(store: ClusterStore, method: 'getAddress' | 'releaseAddress') {
  const real = store[method].bind(store) as (...args: unknown[]) => Promise<unknown>;
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  let reached!: () => void;
  const held = new Promise<void>((resolve) => (reached = resolve));
  let armed = true;
  (store as unknown as Record<string, unknown>)[method] = async (...args: unknown[]) => {
    if (armed) {
      armed = false;
      reached();
      await opened;
    }
    return real(...args);
  };
  return { held, open };
}

describe('a late ReleaseAddress (real etcd)', () => {
  // The engine's ReleaseAddress for a container whose endpoint never reached etcd (the plugin
  // restarted in between) can come after the address went to a new container on this host.
  // The release is refused while an endpoint here uses the address; these are the moments when
  // that endpoint comes while the release waits for etcd.
  async function lateRelease(held: 'getAddress' | 'releaseAddress') {
    const { store, h2 } = cluster();
    const users = new Map<string, string>();
    const h1 = new IpamService(store, { node: 'h1', defaultPool: parseCidr('10.0.0.0/8')!, poolSize: 24, endpointOn: (subnet, ip) => users.get(`${subnet} ${ip}`) }, silentLogger);
    const { network, poolId } = await sharedNetwork(store, [h1, h2], { id: 'a'.repeat(64), vni: 4100 });
    // The new container's address, claimed in etcd (as with --ip) by this host.
    const address = await h1.requestAddress({ poolId, address: '10.0.0.9', kind: 'endpoint' });
    const gate = holdNextCall(store, held);
    const release = h1.releaseAddress(poolId, address);
    await gate.held;
    // The new container's CreateEndpoint, all of it while the release waits.
    const claim = await h1.takeClaim(network.subnet, '10.0.0.9');
    const endpoint: EndpointRecord = { id: 'b'.repeat(64), network: network.id, node: 'h1', vtep: '198.18.0.11', mac: '02:42:0a:00:00:09', ip: '10.0.0.9', subnet: network.subnet, createdAt: new Date().toISOString() };
    users.set(`${network.subnet} 10.0.0.9`, endpoint.id);
    expect(await h1.publishOnClaim(network.subnet, '10.0.0.9', claim, (c) => store.putEndpointRevision(endpoint, c))).toBe(true);
    gate.open();
    await release;
    expect((await store.getAddress(network.subnet, '10.0.0.9'))?.value).toMatchObject({ kind: 'endpoint', node: 'h1' });
    expect(await store.getEndpoint(network.id, endpoint.id)).toBeDefined();
  }

  it('leaves the address of an endpoint published after the release read the claim', () => lateRelease('releaseAddress'));

  it('leaves the address of an endpoint published before the release read the claim', () => lateRelease('getAddress'));
});

describe('ReleaseAddress of an address this host wrote (real etcd)', () => {
  async function published() {
    const { store, h1, h2 } = cluster();
    const { network, poolId } = await sharedNetwork(store, [h1, h2], { id: 'c'.repeat(64), vni: 4200 });
    const address = await h1.requestAddress({ poolId, kind: 'endpoint' });
    const ip = address.split('/')[0]!;
    const claim = await h1.takeClaim(network.subnet, ip);
    const endpoint: EndpointRecord = { id: 'd'.repeat(64), network: network.id, node: 'h1', vtep: '198.18.0.11', mac: '02:42:0a:00:00:0a', ip, subnet: network.subnet, createdAt: new Date().toISOString() };
    expect(await h1.publishOnClaim(network.subnet, ip, claim, (c) => store.putEndpointRevision(endpoint, c))).toBe(true);
    await store.deleteEndpoint(network.id, endpoint.id); // the engine's DeleteEndpoint comes first
    return { store, h1, poolId, address, ip, subnet: network.subnet };
  }

  it('frees it at the revision it wrote, without reading it first', async () => {
    const { store, h1, poolId, address, ip, subnet } = await published();
    const reads = vi.spyOn(store, 'getAddress');
    await h1.releaseAddress(poolId, address);
    expect(reads).not.toHaveBeenCalled();
    reads.mockRestore();
    expect(await store.getAddress(subnet, ip)).toBeUndefined();
  });

  it('reads it again, and leaves it, when it was written since (here relabelled aux)', async () => {
    const { store, h1, poolId, address, ip, subnet } = await published();
    const entry = (await store.getAddress(subnet, ip))!;
    expect(await store.relabelAddress(subnet, entry, { ...entry.value, kind: 'aux' })).toBe(true);
    const reads = vi.spyOn(store, 'getAddress');
    await h1.releaseAddress(poolId, address);
    expect(reads).toHaveBeenCalled();
    reads.mockRestore();
    expect((await store.getAddress(subnet, ip))?.value).toMatchObject({ kind: 'aux', node: 'h1' });
  });
});
