import { beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { desiredPeers } from '../../src/dataplane/peers.js';
import { Runner } from '../../src/dataplane/runner.js';
import { makeNetns, type Netns, plugIntoContainer, removeLeftoverNamespaces, sh, underlayPair } from '../helpers/netns.js';

beforeAll(() => removeLeftoverNamespaces());

const EP1 = '1'.repeat(64);
const EP2 = '2'.repeat(64);
const MAC1 = '02:42:0a:00:00:02';
const MAC2 = '02:42:0a:00:00:03';

interface Link { ifname: string; mtu: number; address?: string; master?: string; linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> } }
/** Every link of the namespace with its details, read with ip itself rather than through the code under test. */
const links = async (ns: Netns) => new Map((JSON.parse(sh('ip', ['-n', ns.name, '-d', '-j', 'link', 'show'])) as Link[]).map((x) => [x.ifname, x]));

describe('data plane on real devices', () => {
  it('makes bridge + VXLAN idempotently, with the settings asked for', async () => {
    await using host = makeNetns('h');
    const dp = new Dataplane(new Runner(host.name), { vtep: '198.18.200.1', port: 4789 });
    await dp.ensureNetwork({ vni: 4242, mtu: 1450 });
    await dp.ensureNetwork({ vni: 4242, mtu: 1450 }); // twice: no error, same result
    const l = await links(host);
    const vx = l.get('tsvx-4242')!;
    expect(vx.linkinfo?.info_data).toMatchObject({ id: 4242, local: '198.18.200.1', port: 4789, learning: false, proxy: true });
    expect(vx.master).toBe('tsbr-4242');
    expect(vx.mtu).toBe(1450);
    expect(l.get('tsbr-4242')?.linkinfo?.info_kind).toBe('bridge');
    expect(host.exec('iptables', '-S', 'TS-OVERLAY')).toContain('-A TS-OVERLAY -i tsbr-4242 -o tsbr-4242 -j ACCEPT');
    expect(host.exec('iptables', '-S', 'FORWARD').match(/-j TS-OVERLAY/g)).toHaveLength(1);
  });

  it('repairs a VXLAN device whose settings drifted, and a missing bridge', async () => {
    await using host = makeNetns('h');
    const dp = new Dataplane(new Runner(host.name), { vtep: '198.18.200.1', port: 4789 });
    await dp.ensureNetwork({ vni: 4300, mtu: 1450 });
    host.exec('ip', 'link', 'del', 'tsvx-4300');
    host.exec('ip', 'link', 'add', 'tsvx-4300', 'type', 'vxlan', 'id', '4300', 'local', '198.18.200.9', 'dstport', '4789');
    host.exec('ip', 'link', 'del', 'tsbr-4300');
    await dp.ensureNetwork({ vni: 4300, mtu: 1450 });
    const l = await links(host);
    expect(l.get('tsvx-4300')?.linkinfo?.info_data).toMatchObject({ local: '198.18.200.1', learning: false });
    expect(l.get('tsvx-4300')?.master).toBe('tsbr-4300');
  });

  it('deletes a network completely, and deleting twice is fine', async () => {
    await using host = makeNetns('h');
    const dp = new Dataplane(new Runner(host.name), { vtep: '198.18.200.1', port: 4789 });
    await dp.ensureNetwork({ vni: 4400, mtu: 1450 });
    await dp.ensureVeth({ endpointId: EP1, vni: 4400, mac: MAC1, mtu: 1450 });
    await dp.deleteVeth(EP1);
    await dp.deleteNetwork(4400);
    await dp.deleteNetwork(4400);
    await dp.deleteVeth(EP1);
    const names = [...(await links(host)).keys()];
    expect(names.filter((n) => n.startsWith('ts'))).toEqual([]);
    expect(host.exec('iptables', '-S', 'TS-OVERLAY')).not.toContain('tsbr-4400');
  });

  it('reports a forward rule whose bridge is gone as its own, and deleting the network removes it', async () => {
    // A removal killed between deleting the devices and the rule leaves the rule alone; the
    // reconciler finds such VNIs through forwardRuleVnis and deletes them like stray devices.
    await using host = makeNetns('h');
    const dp = new Dataplane(new Runner(host.name), { vtep: '198.18.200.1', port: 4789 });
    await dp.ensureNetwork({ vni: 4450, mtu: 1450 });
    await dp.ensureNetwork({ vni: 4451, mtu: 1450 });
    host.exec('ip', 'link', 'del', 'tsvx-4450');
    host.exec('ip', 'link', 'del', 'tsbr-4450');
    host.exec('iptables', '-A', 'TS-OVERLAY', '-i', 'eth9', '-o', 'eth9', '-j', 'ACCEPT'); // not ours
    expect([...(await dp.ownDevices()).bridges]).toEqual([4451]);
    expect([...(await dp.forwardRuleVnis())].sort()).toEqual([4450, 4451]);
    await dp.deleteNetwork(4450);
    expect([...(await dp.forwardRuleVnis())]).toEqual([4451]);
    expect(host.exec('iptables', '-S', 'TS-OVERLAY')).toContain('-i tsbr-4451 -o tsbr-4451');
  });

  it('makes many veth pairs asked for at once, even when a leftover is in the way of one', async () => {
    await using host = makeNetns('h');
    const dp = new Dataplane(new Runner(host.name), { vtep: '198.18.200.1', port: 4789 });
    await dp.ensureNetwork({ vni: 4500, mtu: 1450 });
    const ids = Array.from({ length: 24 }, (_, i) => i.toString(16).padStart(2, '0').repeat(32));
    host.exec('ip', 'link', 'add', `tsv-${ids[5]!.slice(0, 11)}`, 'type', 'veth', 'peer', 'name', 'leftover'); // a crashed Join's pair
    const peers = await Promise.all(ids.map((endpointId, i) => dp.ensureVeth({ endpointId, vni: 4500, mac: `02:42:0a:00:01:${i.toString(16).padStart(2, '0')}`, mtu: 1450 })));
    const l = await links(host);
    for (const [i, id] of ids.entries()) {
      expect(l.get(`tsv-${id.slice(0, 11)}`)?.master, id).toBe('tsbr-4500');
      expect(l.get(peers[i]!)?.address).toBe(`02:42:0a:00:01:${i.toString(16).padStart(2, '0')}`);
    }
    expect(l.has('leftover')).toBe(false);
  });

  it('carries a ping between containers on two hosts, and programs peers by diff', async () => {
    await using h1 = makeNetns('h1');
    await using h2 = makeNetns('h2');
    await using c1 = makeNetns('c1');
    await using c2 = makeNetns('c2');
    const { vtepA, vtepB } = underlayPair(h1, h2);
    const dp1 = new Dataplane(new Runner(h1.name), { vtep: vtepA, port: 4789 });
    const dp2 = new Dataplane(new Runner(h2.name), { vtep: vtepB, port: 4789 });
    await dp1.ensureNetwork({ vni: 5000, mtu: 1450 });
    await dp2.ensureNetwork({ vni: 5000, mtu: 1450 });
    plugIntoContainer(h1, c1, await dp1.ensureVeth({ endpointId: EP1, vni: 5000, mac: MAC1, mtu: 1450 }), '10.0.0.2/24');
    plugIntoContainer(h2, c2, await dp2.ensureVeth({ endpointId: EP2, vni: 5000, mac: MAC2, mtu: 1450 }), '10.0.0.3/24');
    expect(c1.exec('cat', '/sys/class/net/eth0/mtu').trim()).toBe('1450');
    expect(c1.exec('cat', '/sys/class/net/eth0/address').trim()).toBe(MAC1);

    // Before the peers are known, nothing crosses: learning is off.
    expect(c1.tryExec('ping', '-c', '1', '-W', '1', '10.0.0.3').ok).toBe(false);

    expect(await dp1.applyPeers(5000, desiredPeers([{ mac: MAC2, ip: '10.0.0.3', vtep: vtepB }]))).toBe(3);
    expect(await dp2.applyPeers(5000, desiredPeers([{ mac: MAC1, ip: '10.0.0.2', vtep: vtepA }]))).toBe(3);
    expect(await dp1.applyPeers(5000, desiredPeers([{ mac: MAC2, ip: '10.0.0.3', vtep: vtepB }]))).toBe(0); // in line already
    expect(c1.exec('ping', '-c', '2', '-W', '2', '10.0.0.3')).toMatch(/2 received/);
    // A full-size packet fits the 1450 MTU without fragmentation on the 1500 underlay.
    expect(c2.exec('ping', '-c', '1', '-M', 'do', '-s', '1422', '10.0.0.2')).toMatch(/1 received/);

    // The peer leaves: its entries go, and so does reachability.
    expect(await dp1.applyPeers(5000, desiredPeers([]))).toBe(3);
    const left = await dp1.readPeers(5000);
    expect([left.unicast.size, left.flood.size, left.neighbours.size]).toEqual([0, 0, 0]);
    expect(c1.tryExec('ping', '-c', '1', '-W', '1', '10.0.0.3').ok).toBe(false);
  });

  it('keeps two networks on the same hosts apart', async () => {
    await using h1 = makeNetns('h1');
    await using h2 = makeNetns('h2');
    await using a1 = makeNetns('a1');
    await using b2 = makeNetns('b2');
    const { vtepA, vtepB } = underlayPair(h1, h2);
    const dp1 = new Dataplane(new Runner(h1.name), { vtep: vtepA, port: 4789 });
    const dp2 = new Dataplane(new Runner(h2.name), { vtep: vtepB, port: 4789 });
    // Network A (VNI 6001) on host 1, network B (VNI 6002) on host 2, same subnet on purpose.
    await dp1.ensureNetwork({ vni: 6001, mtu: 1450 });
    await dp2.ensureNetwork({ vni: 6002, mtu: 1450 });
    plugIntoContainer(h1, a1, await dp1.ensureVeth({ endpointId: EP1, vni: 6001, mac: MAC1, mtu: 1450 }), '10.9.0.2/24');
    plugIntoContainer(h2, b2, await dp2.ensureVeth({ endpointId: EP2, vni: 6002, mac: MAC2, mtu: 1450 }), '10.9.0.3/24');
    // Even if host 1 (wrongly) learnt B's endpoint, VNI 6001 frames are not delivered to 6002.
    await dp1.applyPeers(6001, desiredPeers([{ mac: MAC2, ip: '10.9.0.3', vtep: vtepB }]));
    expect(a1.tryExec('ping', '-c', '2', '-W', '1', '10.9.0.3').ok).toBe(false);
  });
});
