import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomDockerId } from '../../src/conformance/ipv4.js';
import { endpointPortName } from '../../src/dataplane/names.js';
import { overlaps, parseCidr } from '../../src/ipam/cidr.js';
import { settle } from '../helpers/cluster-oracle.js';
import { CallFailed, type EngineNet, EnginePlayer, EngineRefused } from '../helpers/engine-player.js';
import { TEST_PORT_BASE } from '../helpers/instance.js';
import { waitFor } from '../helpers/lab.js';
import { PluginCluster } from '../helpers/plugin-cluster.js';

/**
 * Issue 6, part 2 ("Races"): three real plugins (dist/main.js), each in its own namespace, on
 * one real etcd, with the test as their three engines (propagation copies every network to
 * every host through them). First contests: the three hosts ask for the same subnet, for
 * nested subnets, and for the same VNI at the same moment; exactly one wins, the others get
 * an error that says why. Then churn: lanes on every host create networks (some with contested
 * subnets and VNIs), run and stop containers on their own networks and on copies of the
 * others', and remove networks, all at once. Every acknowledged address must be unique in its
 * network and every live network's subnet and VNI unique in the cluster, checked as each is
 * handed out; at the end etcd and the kernels must hold exactly what the engines hold, and
 * after removing everything, nothing.
 *
 * Size: RACE_OPS plugin API calls of churn (CI 2000), RACE_CONTESTS rounds of contests (CI 3),
 * RACE_LANES lanes per host (CI 4). Full size: RACE_OPS=25000 RACE_CONTESTS=40 (README, "Races and faults").
 * RACE_LOG=info|debug: the plugins log at that level, kept in /tmp/tso-races-hN.log.
 */
const OPS = Number(process.env['RACE_OPS'] ?? 2000);
const CONTESTS = Number(process.env['RACE_CONTESTS'] ?? 3);
const LANES = Number(process.env['RACE_LANES'] ?? 4);
const SETTLE_MS = 60_000;

let cluster: PluginCluster;
let players: EnginePlayer[];
const started = Date.now();
const errors = new Map<string, number>();
const unexpected: string[] = [];
const duplicates: string[] = [];
/** Live containers by "clusterId ip" and "clusterId mac"; live original networks by cluster ID. */
const liveAddresses = new Map<string, string>();
const liveMacs = new Map<string, string>();
const liveNetworks = new Map<string, EngineNet>();
const tally = { contests: 0, networksCreated: 0, containersRun: 0 };

beforeAll(async () => {
  cluster = await PluginCluster.start({
    hosts: 3,
    underlayNet: 242,
    etcdPorts: { clientPort: TEST_PORT_BASE + 8, peerPort: TEST_PORT_BASE + 9 },
    fakeEngine: true,
    pluginArgs: ['--reconcile-interval', '2'],
    logLevel: process.env['RACE_LOG'] || 'error',
  });
  players = cluster.hosts.map((h) => new EnginePlayer(h));
}, 120_000);

afterAll(async () => {
  const calls = new Map<string, number>();
  for (const p of players ?? []) for (const [k, n] of p.calls) calls.set(k, (calls.get(k) ?? 0) + n);
  const total = [...calls.values()].reduce((a, b) => a + b, 0);
  console.log(
    `races: ${total} plugin API calls from 3 hosts in ${((Date.now() - started) / 1000).toFixed(0)} s ` +
      `(${tally.contests} contests, ${tally.networksCreated} networks and ${tally.containersRun} containers acknowledged; ` +
      `${duplicates.length} duplicates, ${unexpected.length} unexpected refusals)\n` +
      [...calls.entries()].sort().map(([k, n]) => `  ${k.padEnd(32)} ${n}`).join('\n') +
      `\nrefusals, by kind:\n${[...errors.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${String(n).padStart(6)}  ${k}`).join('\n')}`,
  );
  // RACE_LOG=info|debug keeps each plugin's log in /tmp/tso-races-hN.log.
  if (process.env['RACE_LOG']) for (const h of cluster?.hosts ?? []) writeFileSync(`/tmp/tso-races-${h.name}.log`, h.plugin?.output() ?? '');
  await cluster?.stop();
}, 120_000);

/** A refusal's kind: the message with IDs, addresses and numbers taken out. */
function kindOf(err: CallFailed): string {
  return `${err.path}: ${err.reason.replace(/[0-9a-f]{64}/g, '<id>').replace(/\d+\.\d+\.\d+\.\d+(\/\d+)?/g, '<ip>').replace(/\d+/g, 'N').slice(0, 160)}`;
}

/** Refusals a race may legitimately cause: someone else got there first, or removed it. */
const EXPECTED = [
  /overlaps .* already used by a ts-overlay network/,
  /vni N is already used by another ts-overlay network/,
  /was removed from the cluster|no longer exists|is not allocated|was released|is not a ts-overlay network on this host|does not exist/,
];

function refused(err: unknown, context: string): void {
  if (err instanceof EngineRefused) {
    errors.set(`engine: ${err.message.replace(/[0-9a-f]{64}/g, '<id>')}`, (errors.get(`engine: ${err.message.replace(/[0-9a-f]{64}/g, '<id>')}`) ?? 0) + 1);
    return;
  }
  if (!(err instanceof CallFailed)) throw err;
  const kind = kindOf(err);
  errors.set(kind, (errors.get(kind) ?? 0) + 1);
  if (!err.answered || !EXPECTED.some((re) => re.test(kind))) unexpected.push(`${context}: ${err.message}`);
}

function ackNetwork(net: EngineNet): void {
  tally.networksCreated++;
  if (net.clusterId !== net.engineId) return; // a copy shares its original's subnet
  const mine = parseCidr(net.subnet)!;
  for (const other of liveNetworks.values()) {
    if (overlaps(mine, parseCidr(other.subnet)!)) duplicates.push(`subnet ${net.subnet} of ${net.clusterId} overlaps ${other.subnet} of ${other.clusterId}`);
  }
  liveNetworks.set(net.clusterId, net);
}

async function runOn(p: EnginePlayer, engineId: string): Promise<void> {
  try {
    const c = await p.run(engineId);
    tally.containersRun++;
    const a = `${c.clusterId} ${c.ip.split('/')[0]}`;
    const m = `${c.clusterId} ${c.mac}`;
    if (liveAddresses.has(a)) duplicates.push(`${new Date().toISOString()} address ${a} handed to ${c.endpointId} on ${p.host.name} while ${liveAddresses.get(a)} holds it`);
    if (liveMacs.has(m)) duplicates.push(`MAC ${m} handed to ${c.endpointId} on ${p.host.name} while ${liveMacs.get(m)} holds it`);
    liveAddresses.set(a, `${c.endpointId} on ${p.host.name}`);
    liveMacs.set(m, `${c.endpointId} on ${p.host.name}`);
  } catch (err) {
    refused(err, `${p.host.name} run`);
  }
}

async function stopOne(p: EnginePlayer, endpointId: string): Promise<void> {
  const c = p.containers.get(endpointId);
  if (!c) return;
  liveAddresses.delete(`${c.clusterId} ${c.ip.split('/')[0]}`);
  liveMacs.delete(`${c.clusterId} ${c.mac}`);
  for (const f of await p.stop(endpointId)) refused(f, `${p.host.name} stop`);
}

async function removeNet(p: EnginePlayer, engineId: string): Promise<void> {
  const n = p.networks.get(engineId);
  if (!n) return;
  // Gone for the engine from the moment it starts: ReleasePool comes before DeleteNetwork, so
  // the subnet may go to a new network before this removal has finished.
  const original = n.clusterId === n.engineId;
  if (original) liveNetworks.delete(n.clusterId);
  let failed: CallFailed[];
  try {
    failed = await p.removeNetwork(engineId);
  } catch (err) {
    if (original) liveNetworks.set(n.clusterId, n); // refused: the network stays
    return refused(err, `${p.host.name} network rm`);
  }
  for (const f of failed) refused(f, `${p.host.name} network rm`);
}

/** Polls a condition every 50 ms for up to 20 s (the plugins' view of the engines settles). */
const until = (what: string, ok: () => boolean) => waitFor(what, async () => ok(), 20_000);

/** Removes every container, then every network, until the engines hold nothing. */
async function removeEverything(): Promise<void> {
  for (let round = 0; round < 20; round++) {
    await Promise.all(players.map(async (p) => { for (const id of [...p.containers.keys()]) await stopOne(p, id); }));
    await Promise.all(players.map(async (p) => { for (const id of [...p.networks.keys()]) await removeNet(p, id); }));
    await new Promise((r) => setTimeout(r, 500));
    // Propagation may bring a network back while another host still had endpoints on it.
    if (players.every((p) => p.networks.size === 0 && p.containers.size === 0)) return;
  }
  const left = players.map((p) => `${p.host.name}: ${p.containers.size} containers, ${p.networks.size} networks`).join('; ');
  throw new Error(`the engines still hold something after 20 rounds of removal: ${left}`);
}

describe('many hosts at once on one etcd', () => {
  it('the same subnet, nested subnets, the same VNI from three hosts at the same moment: exactly one wins', async () => {
    for (let r = 0; r < CONTESTS; r++) {
      const contests: Array<{ what: string; opts: Array<Parameters<EnginePlayer['createNetwork']>[0]>; loser: RegExp }> = [
        { what: `subnet 10.200.${r}.0/24`, opts: [0, 1, 2].map(() => ({ subnet: `10.200.${r}.0/24` })), loser: /overlaps .* already used by a ts-overlay network .*choose another --subnet/ },
        { what: `nested subnets in 10.${201 + (r % 40)}.0.0/16`, opts: [{ subnet: `10.${201 + (r % 40)}.0.0/16` }, { subnet: `10.${201 + (r % 40)}.7.0/24` }, { subnet: `10.${201 + (r % 40)}.7.128/25` }], loser: /overlaps .* already used by a ts-overlay network/ },
        { what: `vni ${9000 + r}`, opts: [0, 1, 2].map(() => ({ vni: 9000 + r })), loser: /vni \d+ is already used by another ts-overlay network; choose another -o vni/ },
      ];
      for (const c of contests) {
        tally.contests++;
        const outcomes = await Promise.allSettled(players.map((p, i) => p.createNetwork(c.opts[i])));
        const won = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
        const lost = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
        expect(won.length, `${c.what}: winners`).toBe(1);
        for (const l of lost) {
          expect(l, c.what).toBeInstanceOf(CallFailed);
          expect((l as CallFailed).answered, c.what).toBe(true);
          expect((l as CallFailed).reason, c.what).toMatch(c.loser);
          refused(l, c.what);
        }
        ackNetwork(won[0]!);
      }
      await removeEverything();
    }
    expect(await settle(cluster, players, SETTLE_MS, true)).toEqual([]);
    expect(duplicates).toEqual([]);
    expect(unexpected).toEqual([]);
  }, 600_000);

  it('keeps the devices of a new network that took the VNI of a network whose copy here is still being removed', async () => {
    // Found by the churn below: the VNI of a removed network is free in the cluster before every
    // host has removed its copy, and a new network here may take it and use the devices still
    // there. Removing the old copy then must leave them (its Joins failed: the network's devices were gone).
    const [p1, p2] = [players[0]!, players[1]!];
    const engine2 = p2.host.engine!;
    const playRemoval = engine2.onRemove!;
    const held: string[] = [];
    let release = () => {};
    const gate = new Promise<void>((r) => (release = r));
    engine2.onRemove = async (id) => {
      held.push(id);
      await gate;
      await playRemoval(id);
    };
    const vni = 30_000;
    try {
      const old = await p1.createNetwork({ vni });
      await until('h2\'s copy of the old network', () => [...p2.networks.values()].some((n) => n.clusterId === old.clusterId));
      expect(await p1.removeNetwork(old.engineId)).toEqual([]);
      await until('h2 to be asked to remove its copy', () => held.length > 0);
      const replacement = await p2.createNetwork({ vni }); // free in the cluster again
      release();
      await until('h2\'s copy of the old network to go', () => ![...p2.networks.values()].some((n) => n.clusterId === old.clusterId));
      expect(p2.host.links()).toEqual(expect.arrayContaining([`tsh-${vni}`, `tsvx-${vni}`]));
      const c = await p2.run(replacement.engineId);
      expect(await p2.stop(c.endpointId)).toEqual([]);
    } finally {
      engine2.onRemove = playRemoval;
      release();
    }
    await removeEverything();
    expect(await settle(cluster, players, SETTLE_MS, true)).toEqual([]);
  }, 120_000);

  it('refuses at Join, naming the holder, an address another host took with --ip since RequestAddress; the rollback leaves nothing', async () => {
    // CreateEndpoint answers while its endpoint's transaction is still on its way to etcd, and
    // Join waits for it (src/driver/pending-publishes.ts): a claim lost in between fails there.
    const [p1, p2] = [players[0]!, players[1]!];
    const net = await p1.createNetwork();
    const copy = await waitFor('h2\'s copy of the network', async () => [...p2.networks.values()].find((n) => n.clusterId === net.clusterId), 20_000);
    // From this host's stripe, so nothing is written before CreateEndpoint (stripe.ts: once the
    // view of the live nodes has held 2 s, which the tests before this one gave it).
    const address = String((await p1.call('/IpamDriver.RequestAddress', { PoolID: net.poolId, Address: '', Options: {} }))['Address']);
    const ip = address.split('/')[0]!;
    await p2.call('/IpamDriver.RequestAddress', { PoolID: copy.poolId, Address: ip, Options: {} });
    const ids = { NetworkID: net.engineId, EndpointID: randomDockerId() };
    await p1.call('/NetworkDriver.CreateEndpoint', { ...ids, Interface: { Address: address, AddressIPv6: '', MacAddress: '' }, Options: {} });
    const join = p1.call('/NetworkDriver.Join', { ...ids, SandboxKey: '', Options: {} });
    await expect(join).rejects.toMatchObject({ answered: true, reason: expect.stringMatching(new RegExp(`${ip.replace(/\./g, '\\.')} is not allocated to this host.*endpoint on ${p2.host.name} now`)) });
    // The engine's rollback.
    await p1.call('/NetworkDriver.DeleteEndpoint', ids);
    await p1.call('/IpamDriver.ReleaseAddress', { PoolID: net.poolId, Address: ip });
    expect(p1.host.links()).not.toContain(endpointPortName(ids.EndpointID));
    const etcd = cluster.etcdState();
    expect([...etcd.keys()].filter((k) => k.startsWith(`endpoints/${net.clusterId}/`))).toEqual([]);
    expect(etcd.get(`addresses/${net.subnet.replace('/', '_')}/${ip}`)).toMatch(new RegExp(`"node":"${p2.host.name}"`));
    await p2.call('/IpamDriver.ReleaseAddress', { PoolID: copy.poolId, Address: ip });
    // The address is this host's to give again, and works.
    const c = await p1.run(net.engineId);
    expect(await p1.stop(c.endpointId)).toEqual([]);
    await removeEverything();
    expect(await settle(cluster, players, SETTLE_MS, true)).toEqual([]);
  }, 120_000);

  it(`${OPS} operations of churn on three hosts: no duplicates, no orphans`, async () => {
    let seed = 0xace;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const pick = <T>(xs: readonly T[]): T | undefined => (xs.length ? xs[Math.floor(rand() * xs.length)] : undefined);
    const sent = () => players.reduce((n, p) => n + p.sent, 0);
    const budget = sent() + OPS;

    const lane = async (p: EnginePlayer) => {
      while (sent() < budget) {
        const roll = rand();
        const mineOriginals = [...p.networks.values()].filter((n) => n.clusterId === n.engineId);
        if (roll < 0.12 || p.networks.size === 0) {
          // Contested on purpose now and then: a few subnets and VNIs that every host wants.
          const kind = rand();
          const opts = kind < 0.15 ? { subnet: `10.250.${Math.floor(rand() * 4)}.0/24` } : kind < 0.3 ? { vni: 20_000 + Math.floor(rand() * 4) } : {};
          try {
            ackNetwork(await p.createNetwork(opts));
          } catch (err) {
            refused(err, `${p.host.name} network create ${JSON.stringify(opts)}`);
          }
        } else if (roll < 0.6) {
          const net = pick([...p.networks.values()]);
          if (net) await Promise.all(Array.from({ length: 1 + Math.floor(rand() * 3) }, () => runOn(p, net.engineId)));
        } else if (roll < 0.9) {
          const id = pick([...p.containers.keys()]);
          if (id) await stopOne(p, id);
        } else {
          const net = pick(mineOriginals);
          if (net) {
            for (const c of [...p.containers.values()].filter((x) => x.engineNet === net.engineId)) await stopOne(p, c.endpointId);
            await removeNet(p, net.engineId);
          }
        }
      }
    };
    await Promise.all(players.flatMap((p) => Array.from({ length: LANES }, () => lane(p))));
    expect(duplicates, 'duplicates handed out').toEqual([]);
    expect(unexpected, 'refusals a race should not cause').toEqual([]);

    // What the engines hold now is what etcd and the kernels must hold: no orphans, nothing lost.
    expect(await settle(cluster, players, SETTLE_MS, true), 'after churn').toEqual([]);
    await removeEverything();
    expect(await settle(cluster, players, SETTLE_MS, true), 'after removing everything').toEqual([]);
    expect([...cluster.etcdState().keys()]).toEqual([]);
    expect(duplicates).toEqual([]);
    expect(unexpected).toEqual([]);
  }, Math.max(900_000, OPS * 150)); // a loaded 2-core machine manages about 20 calls a second
});
