/**
 * Peer programming (PeerSync) on a real etcd and on real devices in a network namespace (so this
 * file needs root, as the netns project does): endpoints etcd lists become each network's FDB
 * and neighbour entries; a pass that verifies several networks reads the entries of the whole
 * namespace in one go and repairs drift from that reading, and when that reading fails (the
 * kernel interrupted a dump), each device's own.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { vxlanName } from '../../src/dataplane/names.js';
import { desiredPeers, type PeerState } from '../../src/dataplane/peers.js';
import { Runner } from '../../src/dataplane/runner.js';
import { LocalState } from '../../src/driver/local-state.js';
import { PeerSync } from '../../src/driver/peer-sync.js';
import { silentLogger } from '../../src/lib/logger.js';
import { keys } from '../../src/store/keys.js';
import type { EndpointRecord, NetworkRecord } from '../../src/store/records.js';
import { makeNetns, type Netns, removeLeftoverNamespaces } from '../helpers/netns.js';
import { freshStore } from '../helpers/store.js';
import { waitFor } from '../helpers/wait-for.js';

const endpoint = inject('etcdEndpoint');
beforeAll(() => removeLeftoverNamespaces());
const clients: Array<{ close(): void }> = [];
afterAll(() => clients.forEach((c) => c.close()));

/** Counts the peer readings: per device (two processes each) and of the whole namespace (two in all). */
class CountingRunner extends Runner {
  perDevice = 0;
  wholeNamespace = 0;
  /** Refuse whole-namespace readings, as when the kernel interrupts a dump. */
  interruptDumps = false;
  /** Fail the next batch of FDB changes, as when `bridge` refuses a line. */
  failNextFdbBatch = false;

  override async batch(tool: 'ip' | 'bridge', lines: readonly string[]): Promise<void> {
    if (tool === 'bridge' && this.failNextFdbBatch) {
      this.failNextFdbBatch = false;
      throw new Error('bridge refused a line (the test)');
    }
    return super.batch(tool, lines);
  }

  override async bridgeJson<T>(args: readonly string[]): Promise<T[]> {
    if (args[0] === 'fdb' && args.includes('dev')) this.perDevice++;
    return super.bridgeJson<T>(args);
  }

  override async ipJson<T>(args: readonly string[]): Promise<T[]> {
    if (args[0] === 'neigh' && args.includes('dev')) this.perDevice++;
    return super.ipJson<T>(args);
  }

  override async wholeDumpJson<T>(tool: 'ip' | 'bridge', args: readonly string[]): Promise<T[]> {
    this.wholeNamespace++;
    if (this.interruptDumps) throw new Error(`${tool} ${args.join(' ')}: Dump was interrupted and may be inconsistent.`);
    return super.wholeDumpJson<T>(tool, args);
  }

  reset(): void {
    this.perDevice = 0;
    this.wholeNamespace = 0;
  }
}

const NETWORKS = [
  { id: 'net-a', vni: 5301, subnet: '10.31.0.0/24' },
  { id: 'net-b', vni: 5302, subnet: '10.32.0.0/24' },
  { id: 'net-c', vni: 5303, subnet: '10.33.0.0/24' },
];

const remote = (network: (typeof NETWORKS)[number], n: number, node = 'h2'): EndpointRecord => ({
  id: `${network.id}-${node}-${n}`,
  network: network.id,
  node,
  vtep: node === 'h2' ? '198.18.210.2' : '198.18.210.3',
  mac: `02:42:0a:${(network.vni % 100).toString(16).padStart(2, '0')}:00:${n.toString(16).padStart(2, '0')}`,
  ip: network.subnet.replace('0/24', String(n)),
  subnet: network.subnet,
  createdAt: new Date().toISOString(),
});

/** A device's entries in a form that compares by value. */
const entries = (s: PeerState) => JSON.stringify({ unicast: [...s.unicast].sort(), flood: [...s.flood].sort(), neighbours: [...s.neighbours].sort() });

/** A network as the cluster has it (in etcd) and as this host has it (its devices, its local state). */
async function addNetwork(kv: ReturnType<typeof freshStore>['kv'], dp: Dataplane, local: LocalState, net: (typeof NETWORKS)[number], onThisHost = true): Promise<void> {
  const record: NetworkRecord = {
    id: net.id, vni: net.vni, subnet: net.subnet, gateway: net.subnet.replace('0/24', '1/24'), auxAddresses: {}, options: {},
    internal: false, attachable: false, labels: {}, createdBy: 'h2', createdAt: new Date().toISOString(),
  };
  expect(await kv.txn({ compare: [{ key: keys.network(net.id), modRevision: 0 }], put: [[keys.network(net.id), record]] })).toBe(true);
  if (!onThisHost) return;
  await dp.ensureNetwork({ vni: net.vni, mtu: 1450 });
  local.addNetwork({ engineId: `engine-${net.id}`, record, mtu: 1450 });
}

/**
 * This host's parts, its devices in `host`: a store on a fresh prefix, the counting runner and
 * its dataplane, a dataplane for the test's own readings (not counted), and its local state.
 */
function hostParts(host: Netns) {
  const { kv, store } = freshStore(endpoint);
  clients.push(kv);
  const run = new CountingRunner(host.name);
  const dp = new Dataplane(run, { vtep: '198.18.210.1', port: 4789 });
  const reader = new Dataplane(new Runner(host.name), { vtep: '198.18.210.1', port: 4789 });
  return { kv, store, run, dp, reader, local: new LocalState(1450) };
}

describe('peer programming (real etcd, real devices)', () => {
  it('programs what etcd lists, and verifies many networks from one reading of the namespace, or from each device when that fails', async () => {
    await using host: Netns = makeNetns('ps');
    const { kv, store, run, dp, reader, local } = hostParts(host);
    const endpoints: EndpointRecord[] = [];
    for (const net of NETWORKS) {
      await addNetwork(kv, dp, local, net);
      // Two endpoints on h2 and one on h3 per network, and one of this host's own (never a peer entry).
      for (const e of [remote(net, 2), remote(net, 3), remote(net, 4, 'h3'), remote(net, 5, 'h1')]) {
        expect(await store.putEndpoint(e)).toBe(true);
        endpoints.push(e);
      }
    }
    const wanted = (vni: number) => desiredPeers(endpoints.filter((e) => e.node !== 'h1' && NETWORKS.find((n) => n.id === e.network)!.vni === vni));
    const inLine = async () => {
      for (const net of NETWORKS) if (entries(await reader.readPeers(net.vni)) !== entries(wanted(net.vni))) return false;
      return true;
    };
    const peers = new PeerSync('h1', store, dp, local, () => true, silentLogger);
    try {
      // The start verifies every network: one reading of the namespace, no device read alone.
      await peers.start();
      await peers.settled();
      expect({ perDevice: run.perDevice, wholeNamespace: run.wholeNamespace }).toEqual({ perDevice: 0, wholeNamespace: 2 });
      run.reset();
      for (const net of NETWORKS) {
        const state = await reader.readPeers(net.vni);
        expect(entries(state)).toBe(entries(wanted(net.vni)));
        expect([state.unicast.size, state.flood.size, state.neighbours.size]).toEqual([3, 2, 3]);
      }

      // Drift: entries deleted by hand on one device, a stray one added on another.
      const [a, b, c] = NETWORKS as [(typeof NETWORKS)[number], (typeof NETWORKS)[number], (typeof NETWORKS)[number]];
      const drift = () => {
        const gone = remote(a, 2);
        host.exec('bridge', 'fdb', 'del', gone.mac, 'dev', vxlanName(a.vni), 'dst', gone.vtep);
        host.exec('ip', 'neigh', 'del', gone.ip, 'dev', vxlanName(a.vni));
        host.exec('ip', 'neigh', 'replace', b.subnet.replace('0/24', '99'), 'lladdr', '02:42:0a:00:00:99', 'dev', vxlanName(b.vni), 'nud', 'permanent');
        host.exec('bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', vxlanName(c.vni), 'dst', '198.18.210.9');
      };
      drift();
      expect(await inLine()).toBe(false);
      run.reset();
      peers.markAllDirty(); // as a reconcile pass does
      await peers.settled();
      expect(await inLine()).toBe(true);
      expect({ perDevice: run.perDevice, wholeNamespace: run.wholeNamespace }).toEqual({ perDevice: 0, wholeNamespace: 2 });

      // The same when the kernel interrupts the dumps: each device is read on its own instead.
      drift();
      run.reset();
      run.interruptDumps = true;
      peers.markAllDirty();
      await peers.settled();
      expect(await inLine()).toBe(true);
      expect({ perDevice: run.perDevice, wholeNamespace: run.wholeNamespace }).toEqual({ perDevice: 2 * NETWORKS.length, wholeNamespace: 2 });
      run.interruptDumps = false;

      // A change through etcd afterwards is programmed by diff: no reading at all.
      run.reset();
      const late = remote(c, 6);
      expect(await store.putEndpoint(late)).toBe(true);
      endpoints.push(late);
      await waitFor('the new endpoint programmed', inLine, 10_000, 20);
      expect({ perDevice: run.perDevice, wholeNamespace: run.wholeNamespace }).toEqual({ perDevice: 0, wholeNamespace: 0 });
    } finally {
      await peers.stop();
      run.close(); // its batch sessions would keep the namespace alive
    }
  });

  it('retries a network whose programming failed, and drops that retry once a later change programmed it', async () => {
    await using host: Netns = makeNetns('pr');
    const { kv, store, run, dp, reader, local } = hostParts(host);
    const net = NETWORKS[0]!;
    await addNetwork(kv, dp, local, net);
    const endpoints = [remote(net, 2)];
    expect(await store.putEndpoint(endpoints[0]!)).toBe(true);
    const inLine = async () => entries(await reader.readPeers(net.vni)) === entries(desiredPeers(endpoints));
    const peers = new PeerSync('h1', store, dp, local, () => true, silentLogger);
    try {
      await peers.start();
      await waitFor('the first endpoint programmed', inLine, 10_000, 20);

      // The next change fails to program: the network is retried (verified) a second later...
      run.failNextFdbBatch = true;
      endpoints.push(remote(net, 3));
      expect(await store.putEndpoint(endpoints[1]!)).toBe(true);
      await peers.settled();
      expect(await inLine()).toBe(false);
      // ...unless a change before then programs it (reading its device first: after a failure
      // what the kernel holds is not assumed).
      run.reset();
      endpoints.push(remote(net, 4));
      expect(await store.putEndpoint(endpoints[2]!)).toBe(true);
      await waitFor('both endpoints programmed', inLine, 10_000, 20);
      expect(run.perDevice).toBe(2);
      // Then the retry has nothing left to do, and reads nothing.
      run.reset();
      await new Promise((r) => setTimeout(r, 1500));
      expect({ perDevice: run.perDevice, wholeNamespace: run.wholeNamespace }).toEqual({ perDevice: 0, wholeNamespace: 0 });
    } finally {
      await peers.stop();
      run.close();
    }
  });

  it('lets go of a network once its last endpoint went, whether it was on this host or not', async () => {
    await using host: Netns = makeNetns('pf');
    const { kv, store, run, dp, reader, local } = hostParts(host);
    const [here, elsewhere] = NETWORKS as [(typeof NETWORKS)[number], (typeof NETWORKS)[number]];
    await addNetwork(kv, dp, local, here);
    await addNetwork(kv, dp, local, elsewhere, false);
    const made = [remote(here, 2), remote(here, 3, 'h3'), remote(here, 4, 'h1'), remote(elsewhere, 2), remote(elsewhere, 5, 'h1')];
    for (const e of made) expect(await store.putEndpoint(e)).toBe(true);
    const peers = new PeerSync('h1', store, dp, local, () => true, silentLogger);
    try {
      await peers.start();
      await peers.settled();
      expect(peers.heldNetworks()).toEqual([here.id, elsewhere.id]);
      expect(peers.heldVnis()).toEqual([here.vni]);

      for (const e of made) await store.deleteEndpoint(e.network, e.id);
      // The network on no device here goes as its last endpoint goes...
      await waitFor('the other host\'s network let go', async () => {
        await peers.settled();
        return !peers.heldNetworks().includes(elsewhere.id);
      }, 10_000, 20);
      // This host's own lost its peer entries with its endpoints...
      await waitFor('its peer entries gone', async () => entries(await reader.readPeers(here.vni)) === entries(desiredPeers([])), 10_000, 20);
      // ...and goes, with what was programmed on its VNI, at the first pass after it was removed here.
      local.removeNetwork(`engine-${here.id}`);
      peers.markAllDirty(); // as a reconcile pass does
      await peers.settled();
      expect(peers.heldNetworks()).toEqual([]);
      expect(peers.heldVnis()).toEqual([]);
    } finally {
      await peers.stop();
      run.close();
    }
  });
});
