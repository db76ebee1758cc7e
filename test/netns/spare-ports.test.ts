import { beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { KernelMonitor } from '../../src/dataplane/monitor.js';
import { isSparePortName } from '../../src/dataplane/names.js';
import { Runner } from '../../src/dataplane/runner.js';
import type { SparePortOptions } from '../../src/dataplane/spare-ports.js';
import { waitFor } from '../helpers/lab.js';
import { makeNetns, type Netns, plugIntoContainer, removeLeftoverNamespaces, sh } from '../helpers/netns.js';

beforeAll(() => removeLeftoverNamespaces());

interface Link { ifname: string; mtu: number; link?: string; flags: string[]; linkinfo?: { info_kind?: string; info_data?: { mode?: string } } }
/** The namespace's links, read with ip itself rather than through the code under test. */
const links = (ns: Netns) => new Map((JSON.parse(sh('ip', ['-n', ns.name, '-d', '-j', 'link', 'show'])) as Link[]).map((x) => [x.ifname, x]));
const spares = (ns: Netns) => [...links(ns).keys()].filter(isSparePortName);

const endpoint = (n: number) => n.toString(16).padStart(64, '0');
const VNI = 4500;
const MTU = 1400;
const port = (n: number) => ({ endpointId: endpoint(n), vni: VNI, mac: `02:42:0a:00:00:${(n + 1).toString(16).padStart(2, '0')}`, mtu: MTU });

/** A host whose every Join asks for one more spare, up to `max`. */
async function hostWithSpares(ns: Netns, options: Partial<SparePortOptions> = {}): Promise<Dataplane> {
  const dp = new Dataplane(new Runner(ns.name), { vtep: '198.18.200.1', port: 4789 }, undefined, { max: 4, joinsPerSpare: 1, idleMs: 60_000, ...options });
  await dp.ensureNetwork({ vni: VNI, mtu: MTU });
  return dp;
}

/** A host whose second Join (endpoint 2) was given a spare, made after the first. */
async function secondJoinGotSpare(host: Netns): Promise<{ dp: Dataplane; given: string }> {
  const dp = await hostWithSpares(host);
  await dp.ensurePort(port(1));
  await waitFor('a spare', async () => spares(host).length === 1);
  const given = await dp.ensurePort(port(2));
  expect(isSparePortName(given)).toBe(true);
  return { dp, given };
}

describe('spare endpoint interfaces, made ahead of Joins under load', () => {
  it('hands out a spare once Joins come quickly: a down macvlan on the network\'s VXLAN device, which carries frames once it has the endpoint\'s MAC', async () => {
    await using host = makeNetns('h');
    await using c1 = makeNetns('c1');
    await using c2 = makeNetns('c2');
    const dp = await hostWithSpares(host);
    const first = await dp.ensurePort(port(1));
    expect(first).toBe(`tsc-${endpoint(1).slice(0, 11)}`); // none made yet: the usual way
    await waitFor('a spare after the first Join', async () => spares(host).length === 1);
    const [ready] = spares(host);
    const l = links(host).get(ready!)!;
    expect(l).toMatchObject({ link: `tsvx-${VNI}`, mtu: MTU, linkinfo: { info_kind: 'macvlan', info_data: { mode: 'bridge' } } });
    expect(l.flags).not.toContain('UP');

    const second = await dp.ensurePort(port(2));
    expect(second).toBe(ready);
    expect(dp.portName(endpoint(2))).toBe(ready);
    expect(dp.ownsSpare(ready!)).toBe(true); // the endpoint's now: no reconcile removes it
    await waitFor('two spares after two Joins', async () => spares(host).length === 3); // the one handed out still here
    // What the engine does with it; the endpoints then reach each other through the macvlans.
    plugIntoContainer(host, c1, first, '10.9.0.2/24', port(1).mac);
    plugIntoContainer(host, c2, second, '10.9.0.3/24', port(2).mac);
    expect(c2.exec('ip', '-j', 'link', 'show', 'eth0')).toContain(port(2).mac);
    expect(c1.tryExec('ping', '-c', '1', '-W', '2', '10.9.0.3').ok).toBe(true);
    await dp.closeSpares();
    expect(spares(host)).toEqual([]);
  });

  it('deletes a spare by the endpoint in the engine\'s order: Leave while it is in the container, then DeleteEndpoint once the engine brought it back under its name', async () => {
    await using host = makeNetns('h');
    await using container = makeNetns('c');
    const { dp, given } = await secondJoinGotSpare(host);
    plugIntoContainer(host, container, given, '10.9.0.3/24', port(2).mac);
    await dp.deletePort(endpoint(2)); // Leave: the interface is still in the container
    // The engine takes it out of the container: down, its name from Join, into the host's namespace.
    container.exec('ip', 'link', 'set', 'eth0', 'down');
    container.exec('ip', 'link', 'set', 'eth0', 'name', given);
    container.exec('ip', 'link', 'set', given, 'netns', host.name);
    expect(links(host).has(given)).toBe(true);
    expect(dp.ownsSpare(given)).toBe(true);
    await dp.deletePort(endpoint(2)); // DeleteEndpoint
    dp.endpointGone(endpoint(2));
    expect(links(host).has(given)).toBe(false);
    expect(dp.ownsSpare(given)).toBe(false);
    expect(dp.portName(endpoint(2))).toBe(`tsc-${endpoint(2).slice(0, 11)}`);
    await dp.closeSpares();
  });

  it('answers a Join tried again with the same spare while it is here, else makes the endpoint\'s own; deletes either by the endpoint', async () => {
    await using host = makeNetns('h');
    await using container = makeNetns('c');
    const { dp, given } = await secondJoinGotSpare(host);
    expect(await dp.ensurePort(port(2))).toBe(given); // the same Join again: the same answer
    plugIntoContainer(host, container, given, '10.9.0.3/24', port(2).mac); // gone from the host
    const again = await dp.ensurePort(port(2));
    expect(again).toBe(`tsc-${endpoint(2).slice(0, 11)}`);
    expect(links(host).get(again)?.link).toBe(`tsvx-${VNI}`);
    await dp.deletePort(endpoint(2));
    await dp.deletePort(endpoint(1));
    expect(links(host).has(again)).toBe(false);
    expect(dp.portName(endpoint(2))).toBe(`tsc-${endpoint(2).slice(0, 11)}`);
    await dp.closeSpares();
  });

  it('answers a Join tried again after it made the endpoint\'s own interface with that one, not a spare, so that none is left behind', async () => {
    await using host = makeNetns('h');
    const dp = await hostWithSpares(host);
    const own = `tsc-${endpoint(1).slice(0, 11)}`;
    expect(await dp.ensurePort(port(1))).toBe(own); // no spare yet: its own
    await waitFor('a spare', async () => spares(host).length === 1);
    const [spare] = spares(host);
    expect(await dp.ensurePort(port(1))).toBe(own); // tried again: the same, the spare untouched
    expect(dp.portName(endpoint(1))).toBe(own);
    expect(spares(host)).toEqual([spare]);
    expect(dp.ownsSpare(spare!)).toBe(true);
    expect(links(host).get(own)?.link).toBe(`tsvx-${VNI}`);
    // Another endpoint's Join still gets the spare; deleting the first leaves nothing of it.
    expect(await dp.ensurePort(port(2))).toBe(spare);
    await dp.deletePort(endpoint(1));
    dp.endpointGone(endpoint(1));
    expect(links(host).has(own)).toBe(false);
    await dp.deletePort(endpoint(2));
    dp.endpointGone(endpoint(2));
    expect(links(host).has(spare!)).toBe(false);
    await dp.closeSpares();
  });

  it('deletes a network\'s spares after a quiet spell, makes none for a lone Join, and never any with max 0', async () => {
    await using host = makeNetns('h');
    // Idle long enough that the 50 ms polling below sees the spare on a busy machine.
    const dp = await hostWithSpares(host, { idleMs: 1500 });
    await dp.ensurePort(port(1));
    await waitFor('a spare', async () => spares(host).length === 1);
    await waitFor('the spares of a quiet network to go', async () => spares(host).length === 0, 5000);
    await using lone = makeNetns('h');
    const calm = await hostWithSpares(lone, { joinsPerSpare: 8 });
    for (let i = 1; i <= 7; i++) await calm.ensurePort(port(i)); // fewer than 8 Joins a second: none
    await new Promise((r) => setTimeout(r, 200));
    expect(spares(lone)).toEqual([]);
    await using off = makeNetns('h');
    const none = await hostWithSpares(off, { max: 0 });
    for (let i = 1; i <= 5; i++) await none.ensurePort(port(i));
    await new Promise((r) => setTimeout(r, 200));
    expect(spares(off)).toEqual([]);
  });

  it('keeps a network\'s spares while Joins keep coming: each Join pushes its quiet spell back', async () => {
    await using host = makeNetns('h');
    // Times with room for a slow machine: 1.2 s between a Join's quiet spell and the next Join.
    const dp = await hostWithSpares(host, { idleMs: 3000 });
    // Interfaces handed to endpoints keep their spare names here (no engine moves them away).
    const handedOut = new Set<string>();
    const ready = () => spares(host).filter((n) => !handedOut.has(n));
    const join = async (n: number) => handedOut.add(await dp.ensurePort(port(n)));
    await join(1);
    await waitFor('a spare', async () => ready().length === 1);
    // A Join every 1.8 s, each within the 3 s quiet spell of the one before, for 5.4 s.
    for (let n = 2; n <= 4; n++) {
      await new Promise((r) => setTimeout(r, 1800));
      await join(n);
    }
    await new Promise((r) => setTimeout(r, 1400)); // past 3 s after the first Joins, not the last
    expect(ready().length).toBeGreaterThan(0);
    await waitFor('the spares to go once the Joins stop', async () => ready().length === 0, 8000);
    await dp.closeSpares();
  });

  it('never hands out a spare deleted by hand (seen by the kernel monitor), nor one that went with its VXLAN device (made again)', async () => {
    await using host = makeNetns('h');
    const dp = await hostWithSpares(host);
    const deleted: string[] = [];
    const monitor = new KernelMonitor(host.name, () => undefined, (name) => {
      deleted.push(name);
      dp.linkDeleted(name);
    });
    monitor.start();
    try {
      // The monitor is listening once it reports a deletion: a canary link, added and deleted
      // until it is reported (a fixed pause would guess how long starting `ip monitor` takes).
      await waitFor('the monitor listening', async () => {
        host.exec('ip', 'link', 'add', 'canary0', 'type', 'bridge'); // this kernel has no dummy module
        host.exec('ip', 'link', 'del', 'canary0');
        await new Promise((r) => setTimeout(r, 100));
        return deleted.includes('canary0');
      }, 10_000, 0);
      await dp.ensurePort(port(1));
      const given = await dp.ensurePort(port(2));
      const ready = () => spares(host).filter((n) => dp.ownsSpare(n) && n !== given);
      const made = await waitFor('two spares ready', async () => (ready().length === 2 ? ready() : undefined));
      for (const name of made) host.exec('ip', 'link', 'del', name);
      await waitFor('the monitor to report both', async () => made.every((n) => deleted.includes(n)));
      const next = await dp.ensurePort(port(3));
      expect(made).not.toContain(next);
      expect(links(host).has(next)).toBe(true);

      await waitFor('spares again', async () => ready().length >= 1);
      // Without the monitor (which would report each macvlan deleted with the device): the
      // plugin learns that the device was made again from ensureNetwork alone.
      monitor.stop();
      host.exec('ip', 'link', 'del', `tsvx-${VNI}`); // takes every macvlan on it
      await dp.ensureNetwork({ vni: VNI, mtu: MTU }); // made again: the spares it knew are gone
      const after = await dp.ensurePort(port(4));
      expect(links(host).has(after)).toBe(true);
    } finally {
      monitor.stop();
      await dp.closeSpares();
    }
  });
});
