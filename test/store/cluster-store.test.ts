import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { silentLogger } from '../../src/lib/logger.js';
import { PluginMetrics } from '../../src/metrics/plugin-metrics.js';
import { ClusterStore } from '../../src/store/cluster-store.js';
import { EtcdKv } from '../../src/store/etcd-kv.js';
import type { EndpointRecord, NetworkRecord } from '../../src/store/records.js';
import { parseExposition, valueOf } from '../helpers/prometheus.js';
import { freshStore } from '../helpers/store.js';

const endpoint = inject('etcdEndpoint');
const clients: Array<{ close(): void }> = [];
afterAll(() => clients.forEach((c) => c.close()));
function store() {
  const s = freshStore(endpoint);
  clients.push(s.kv);
  return s.store;
}

const network = (id: string, vni: number): NetworkRecord => ({
  id, vni, subnet: '10.0.0.0/24', gateway: '10.0.0.1/24', auxAddresses: {}, options: {}, internal: false,
  attachable: false, labels: {}, createdBy: 'h1', createdAt: new Date(0).toISOString(),
});

/** Creates the pool a network is bound to, as RequestPool does, and returns it. */
async function pool(s: ReturnType<typeof store>, subnet = '10.0.0.0/24') {
  const { guardRevision } = await s.listPools();
  await s.createPool({ subnet, users: ['h1'], createdBy: 'h1', createdAt: new Date(0).toISOString() }, guardRevision);
  return (await s.getPool(subnet))!;
}

describe('cluster store (real etcd)', () => {
  it('gives a VNI to exactly one of two networks created at once', async () => {
    const s = store();
    const [pa, pb] = [await pool(s, '10.0.0.0/24'), await pool(s, '10.0.1.0/24')];
    const results = await Promise.all([s.createNetwork(network('a'.repeat(64), 5000), pa), s.createNetwork(network('b'.repeat(64), 5000), pb)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect(await s.takenVnis()).toEqual(new Set([5000]));
  });

  it('binds the pool to the network it creates, and creates nothing when the pool changed since it was read', async () => {
    const s = store();
    const stale = await pool(s);
    const fresh = (await s.getPool('10.0.0.0/24'))!;
    expect(await s.updatePool({ ...fresh.value, users: ['h1', 'h2'] }, fresh.modRevision)).toBe(true);
    expect(await s.createNetwork(network('9'.repeat(64), 5100), stale)).toBe(false);
    expect(await s.getNetwork('9'.repeat(64))).toBeUndefined();
    expect(await s.takenVnis()).toEqual(new Set());
    expect(await s.createNetwork(network('9'.repeat(64), 5100), (await s.getPool('10.0.0.0/24'))!)).toBe(true);
    expect((await s.getPool('10.0.0.0/24'))?.value).toMatchObject({ users: ['h1', 'h2'], network: '9'.repeat(64) });
    // Deleting the network unbinds the pool that outlives it (a rolled-back CreateNetwork).
    expect(await s.deleteNetwork((await s.getNetwork('9'.repeat(64)))!)).toBe(true);
    expect((await s.getPool('10.0.0.0/24'))?.value).toEqual({ subnet: '10.0.0.0/24', users: ['h1', 'h2'], createdBy: 'h1', createdAt: new Date(0).toISOString() });
  });

  it('deletes a network with its VNI and endpoints, but not if it changed since it was read', async () => {
    const s = store();
    const id = 'c'.repeat(64);
    await s.createNetwork(network(id, 6000), await pool(s));
    const entry = (await s.getNetwork(id))!;
    const ep: EndpointRecord = { id: 'd'.repeat(64), network: id, node: 'h1', vtep: '198.18.0.11', mac: '02:42:0a:00:00:02', ip: '10.0.0.2', subnet: '10.0.0.0/24', createdAt: new Date(0).toISOString() };
    expect(await s.putEndpoint(ep)).toBe(true);
    await s.updateNetwork(id, (n) => ({ ...n, name: 'demo' }));
    expect(await s.deleteNetwork(entry)).toBe(false); // stale read: refused
    expect(await s.deleteNetwork((await s.getNetwork(id))!)).toBe(true);
    expect(await s.takenVnis()).toEqual(new Set());
    expect((await s.listEndpoints(id)).endpoints).toEqual([]);
  });

  it('keeps a network that got an endpoint after the listing its removal was judged by', async () => {
    const s = store();
    const id = '3'.repeat(64);
    await s.createNetwork(network(id, 6100), await pool(s));
    const ep = (n: string, node: string, ip: string): EndpointRecord => ({ id: n.repeat(64), network: id, node, vtep: '198.18.0.11', mac: '02:42:0a:00:00:02', ip, subnet: '10.0.0.0/24', createdAt: new Date(0).toISOString() });
    expect(await s.putEndpoint(ep('4', 'h1', '10.0.0.2'))).toBe(true);
    // h1 lists the endpoints (only its own: the network may go) ...
    const entry = (await s.getNetwork(id))!;
    const listing = await s.listEndpoints(id);
    expect(listing.endpoints.map((e) => e.node)).toEqual(['h1']);
    // ... and a container starts on h2 before h1's delete: its endpoint is written.
    expect(await s.putEndpoint(ep('5', 'h2', '10.0.0.3'))).toBe(true);
    expect(await s.deleteNetwork(entry, { endpointsAt: listing.revision })).toBe(false);
    expect(await s.getNetwork(id)).toBeDefined();
    expect((await s.listEndpoints(id)).endpoints.map((e) => e.node).sort()).toEqual(['h1', 'h2']);
    // Deletions since the listing do not hold it: h2's container went again.
    const again = await s.listEndpoints(id);
    await s.deleteEndpoint(id, ep('5', 'h2', '10.0.0.3').id);
    await s.deleteEndpoint(id, ep('4', 'h1', '10.0.0.2').id);
    expect(await s.deleteNetwork(entry, { endpointsAt: again.revision })).toBe(true);
    expect(await s.getNetwork(id)).toBeUndefined();
    expect((await s.listEndpoints(id)).endpoints).toEqual([]);
  });

  it('keeps a network while a host records a copy of it after the listing its removal was judged by', async () => {
    const s = store();
    const id = '6'.repeat(64);
    await s.createNetwork(network(id, 6200), await pool(s));
    const entry = (await s.getNetwork(id))!;
    const { copies, revision } = await s.listAllCopies();
    expect(copies).toEqual([]);
    await s.putCopy({ network: id, node: 'h2', engineNetworkId: 'e'.repeat(64) });
    expect(await s.deleteNetwork(entry, { copiesAt: revision })).toBe(false);
    expect(await s.getNetwork(id)).toBeDefined();
  });

  it('releases a dead host\'s endpoint only while that host has no node record', async () => {
    const s = store();
    const id = '2'.repeat(64);
    await s.createNetwork(network(id, 6300), await pool(s));
    const claim = { ip: '10.0.0.8', kind: 'endpoint' as const, node: 'h9', claimedAt: new Date(0).toISOString() };
    const ep: EndpointRecord = { id: '9'.repeat(64), network: id, node: 'h9', vtep: '198.18.0.19', mac: '02:42:0a:00:00:08', ip: '10.0.0.8', subnet: '10.0.0.0/24', createdAt: new Date(0).toISOString() };
    expect(await s.putEndpoint(ep, { record: claim })).toBe(true);
    const judged = (await s.getEndpoint(id, ep.id))!; // h9 was judged dead on this read ...
    const lease = await s.registerNode({ name: 'h9', vtep: '198.18.0.19', version: '0', startedAt: new Date(0).toISOString() }, 30, () => undefined);
    try {
      // ... and came back before the release: its container still runs, so nothing goes.
      expect(await s.releaseEndpoint(judged)).toBe(false);
      expect(await s.getEndpoint(id, ep.id)).toBeDefined();
      expect(await s.getAddress('10.0.0.0/24', '10.0.0.8')).toBeDefined();
    } finally {
      await lease.revoke();
    }
    expect(await s.releaseEndpoint(judged)).toBe(true);
    expect(await s.getEndpoint(id, ep.id)).toBeUndefined();
    expect(await s.getAddress('10.0.0.0/24', '10.0.0.8')).toBeUndefined();
  });

  it('frees a stray address only if no endpoint of its networks was written since the listing that found it unused', async () => {
    const s = store();
    const id = '4'.repeat(64);
    await s.createNetwork(network(id, 6400), await pool(s));
    const record = { ip: '10.0.0.6', kind: 'endpoint' as const, node: 'h1', claimedAt: new Date(0).toISOString() };
    const claimedAt = await s.claimAddress('10.0.0.0/24', record);
    const entry = (await s.getAddress('10.0.0.0/24', '10.0.0.6'))!;
    const { endpoints, revision: listedAt } = await s.listEndpoints();
    expect(endpoints).toEqual([]); // unused: a stray, it seems
    // The claim's CreateEndpoint publishes now, writing the claim again: its revision moves.
    const ep: EndpointRecord = { id: '5'.repeat(64), network: id, node: 'h1', vtep: '198.18.0.11', mac: '02:42:0a:00:00:06', ip: '10.0.0.6', subnet: '10.0.0.0/24', createdAt: new Date(0).toISOString() };
    expect(await s.putEndpoint(ep, { revision: claimedAt!, record })).toBe(true);
    const republished = (await s.getAddress('10.0.0.0/24', '10.0.0.6'))!;
    expect(republished.modRevision).toBeGreaterThan(entry.modRevision);
    expect(await s.releaseAddress('10.0.0.0/24', entry, { networks: [id], listedAt })).toBe(false);
    // The claim as it is now, with the listing from before the endpoint: the listing's compare
    // alone refuses.
    expect(await s.releaseAddress('10.0.0.0/24', republished, { networks: [id], listedAt })).toBe(false);
    expect(await s.getAddress('10.0.0.0/24', '10.0.0.6')).toBeDefined();
    // Once the endpoint went and a new listing finds the address unused, it is freed.
    await s.deleteEndpoint(id, ep.id);
    expect(await s.releaseAddress('10.0.0.0/24', republished, { networks: [id], listedAt: (await s.listEndpoints()).revision })).toBe(true);
  });

  it('refuses to publish an endpoint on a network that vanished', async () => {
    const s = store();
    const id = 'e'.repeat(64);
    await s.createNetwork(network(id, 7000), await pool(s));
    const entry = (await s.getNetwork(id))!;
    await s.deleteNetwork(entry);
    const ep: EndpointRecord = { id: 'f'.repeat(64), network: id, node: 'h1', vtep: '198.18.0.11', mac: '02:42:0a:00:00:02', ip: '10.0.0.2', subnet: '10.0.0.0/24', createdAt: new Date(0).toISOString() };
    expect(await s.putEndpoint(ep)).toBe(false);
  });

  it('publishes an endpoint only while its address is the claim made at the revision it names', async () => {
    const s = store();
    const id = '7'.repeat(64);
    await s.createNetwork(network(id, 7100), await pool(s));
    const claim = (node: string) => ({ ip: '10.0.0.9', kind: 'endpoint' as const, node, claimedAt: new Date(0).toISOString() });
    const first = await s.claimAddress('10.0.0.0/24', claim('h1'));
    expect(first).toBe((await s.getAddress('10.0.0.0/24', '10.0.0.9'))!.modRevision);
    expect(await s.claimAddress('10.0.0.0/24', claim('h2'))).toBeUndefined(); // held: the second claim loses
    const ep = (n: string): EndpointRecord => ({ id: n.repeat(64), network: id, node: 'h1', vtep: '198.18.0.11', mac: '02:42:0a:00:00:09', ip: '10.0.0.9', subnet: '10.0.0.0/24', createdAt: new Date(0).toISOString() });
    expect(await s.putEndpoint(ep('a'), { revision: first!, record: claim('h1') })).toBe(true);
    // Freed and claimed again (by another host, or by this one for another container): the old
    // claim's revision no longer publishes anything.
    await s.deleteEndpoint(id, ep('a').id);
    expect(await s.releaseAddress('10.0.0.0/24', (await s.getAddress('10.0.0.0/24', '10.0.0.9'))!)).toBe(true);
    const second = await s.claimAddress('10.0.0.0/24', claim('h2'));
    expect(second).toBeGreaterThan(first!);
    expect(await s.putEndpoint(ep('b'), { revision: first!, record: claim('h1') })).toBe(false);
    expect(await s.getEndpoint(id, ep('b').id)).toBeUndefined();
  });

  it('writes a claim with the endpoint in one transaction only while nobody holds the address', async () => {
    const s = store();
    const id = '8'.repeat(64);
    await s.createNetwork(network(id, 7200), await pool(s));
    const claim = (node: string) => ({ ip: '10.0.0.7', kind: 'endpoint' as const, node, claimedAt: new Date(0).toISOString() });
    const ep = (n: string, node: string): EndpointRecord => ({ id: n.repeat(64), network: id, node, vtep: '198.18.0.11', mac: '02:42:0a:00:00:07', ip: '10.0.0.7', subnet: '10.0.0.0/24', createdAt: new Date(0).toISOString() });
    expect(await s.putEndpoint(ep('a', 'h1'), { record: claim('h1') })).toBe(true);
    expect((await s.getAddress('10.0.0.0/24', '10.0.0.7'))?.value.node).toBe('h1');
    // The address is held now: a second endpoint on it is refused, and nothing of it is written.
    expect(await s.putEndpoint(ep('b', 'h2'), { record: claim('h2') })).toBe(false);
    expect(await s.getEndpoint(id, ep('b', 'h2').id)).toBeUndefined();
    expect((await s.getAddress('10.0.0.0/24', '10.0.0.7'))?.value.node).toBe('h1');
  });

  it('streams endpoint puts and deletes that follow a listing, in order', async () => {
    const s = store();
    const { revision } = await s.listEndpoints();
    const seen: string[] = [];
    const watch = s.watchEndpoints(revision, {
      onPut: (key) => seen.push(`put ${key.split('/').pop()}`),
      onDelete: (key) => seen.push(`del ${key.split('/').pop()}`),
      onResync: () => seen.push('resync'),
    });
    const id = '1'.repeat(64);
    await s.createNetwork(network(id, 8000), await pool(s));
    const entry = (await s.getNetwork(id))!;
    const ep: EndpointRecord = { id: '2'.repeat(64), network: id, node: 'h2', vtep: '198.18.0.12', mac: '02:42:0a:00:00:03', ip: '10.0.0.3', subnet: '10.0.0.0/24', createdAt: new Date(0).toISOString() };
    await s.putEndpoint(ep);
    await s.deleteEndpoint(id, ep.id);
    const deadline = Date.now() + 5000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await watch.close();
    expect(seen).toEqual([`put ${ep.id}`, `del ${ep.id}`]);
  });

  it('keeps a container\'s names only as long as its endpoint: written while it exists, deleted with it in every way it can go', async () => {
    const s = store();
    const id = '3'.repeat(64);
    await s.createNetwork(network(id, 9000), await pool(s));
    const ep = (n: string, ip: string): EndpointRecord => ({ id: n.repeat(64), network: id, node: 'h1', vtep: '198.18.0.11', mac: '02:42:0a:00:00:09', ip, subnet: '10.0.0.0/24', createdAt: new Date(0).toISOString() });
    const names = (e: EndpointRecord) => ({ endpoint: e.id, network: id, container: 'c'.repeat(64), names: ['web'], ip: e.ip, node: 'h1' });
    const listed = async () => (await s.listNames()).entries.map((e) => e.value.endpoint).sort();
    const [a, b, c, d] = [ep('a', '10.0.0.2'), ep('b', '10.0.0.3'), ep('c', '10.0.0.4'), ep('d', '10.0.0.5')];

    expect(await s.putName(names(a))).toBe(false); // no endpoint yet (or any more): refused
    for (const e of [a, b, c, d]) {
      expect(await s.putEndpoint(e)).toBe(true);
      expect(await s.putName(names(e))).toBe(true);
    }
    expect(await listed()).toEqual([a.id, b.id, c.id, d.id]);

    await s.deleteEndpoint(id, a.id); // DeleteEndpoint
    expect(await listed()).toEqual([b.id, c.id, d.id]);
    expect(await s.putName(names(a))).toBe(false); // a late event cannot bring it back
    expect(await s.releaseEndpoint((await s.getEndpoint(id, b.id))!)).toBe(true); // a dead host's, released
    expect(await listed()).toEqual([c.id, d.id]);
    expect(await s.removeEndpointEntry((await s.getEndpoint(id, c.id))!)).toBe(true); // one whose container the engine no longer has
    expect(await listed()).toEqual([d.id]);
    expect(await s.deleteNetwork((await s.getNetwork(id))!)).toBe(true); // the network left the cluster
    expect(await listed()).toEqual([]);
  });

  it('commits transactions asked for at once together, each by its own compares, as if one after another', async () => {
    const s = store();
    await pool(s);
    const claim = (ip: string, node: string) => ({ ip, kind: 'endpoint' as const, node, claimedAt: new Date(0).toISOString() });
    // 40 different addresses, and 8 hosts after one more address, all at once.
    const distinct = Array.from({ length: 40 }, (_, i) => s.claimAddress('10.0.0.0/24', claim(`10.0.0.${i + 10}`, 'h1')));
    const contested = Array.from({ length: 8 }, (_, i) => s.claimAddress('10.0.0.0/24', claim('10.0.0.200', `h${i}`)));
    const [won, race] = [await Promise.all(distinct), await Promise.all(contested)];
    expect(won.every((r) => r !== undefined)).toBe(true);
    expect(race.filter((r) => r !== undefined)).toHaveLength(1);
    const holder = (await s.getAddress('10.0.0.0/24', '10.0.0.200'))!;
    expect(holder.modRevision).toBe(race.find((r) => r !== undefined));
    expect(holder.value.node).toBe(`h${race.findIndex((r) => r !== undefined)}`);
    // Every claim is in etcd at the revision it was told, and they went in fewer transactions than claims.
    const stored = await s.listAddressEntries('10.0.0.0/24');
    expect(stored).toHaveLength(41);
    for (const [i, rev] of won.entries()) expect(stored.find((e) => e.value.ip === `10.0.0.${i + 10}`)?.modRevision).toBe(rev);
    expect(new Set([...won, ...race].filter((r) => r !== undefined)).size).toBeLessThan(41);

    // A pool deleted (with every address in it, by prefix) while claims in it are asked for:
    // a claim either lands before the pool goes (and goes with it) or finds no pool.
    const entry = (await s.getPool('10.0.0.0/24'))!;
    const late = Array.from({ length: 10 }, (_, i) => s.claimAddress('10.0.0.0/24', claim(`10.0.0.${i + 100}`, 'h2')));
    expect(await s.deletePool('10.0.0.0/24', entry.modRevision)).toBe(true);
    await Promise.all(late);
    expect(await s.getPool('10.0.0.0/24')).toBeUndefined();
    expect(await s.listAddressEntries('10.0.0.0/24')).toEqual([]);
  });

  it('names etcd and gives up within the call timeout when etcd is unreachable', async () => {
    const s = freshStore('http://127.0.0.1:1'); // nothing listens on port 1
    clients.push(s.kv);
    const started = Date.now();
    await expect(s.store.listNetworks()).rejects.toThrow(/^etcd read failed/);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe('etcd timings in the metrics (real etcd)', () => {
  it('times every transaction asked for and every commit, those asked for together going in one commit', async () => {
    const metrics = new PluginMetrics();
    const kv = new EtcdKv({ endpoints: [endpoint], prefix: `/test-${randomUUID()}/`, callTimeoutMs: 5000, metrics }, silentLogger);
    clients.push(kv);
    const s = new ClusterStore(kv, silentLogger);
    await pool(s);
    const before = parseExposition(await metrics.exposition());
    const claim = (ip: string) => s.claimAddress('10.0.0.0/24', { ip, kind: 'endpoint', node: 'h1', claimedAt: new Date(0).toISOString() });
    // Asked for in one go: the first goes at once, the other two wait for it and go together.
    expect(await Promise.all([claim('10.0.0.2'), claim('10.0.0.3'), claim('10.0.0.4')])).not.toContain(undefined);
    const after = parseExposition(await metrics.exposition());
    const added = (name: string) => valueOf(after, name)! - (valueOf(before, name) ?? 0);
    expect(added('ts_overlay_etcd_txn_duration_seconds_count')).toBe(3);
    expect(added('ts_overlay_etcd_commit_duration_seconds_count')).toBe(2);
    expect(added('ts_overlay_etcd_txn_duration_seconds_sum')).toBeGreaterThan(0);
  });
});
