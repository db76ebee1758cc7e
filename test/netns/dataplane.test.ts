import { beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { hostPortMac } from '../../src/dataplane/names.js';
import { desiredPeers } from '../../src/dataplane/peers.js';
import { Runner } from '../../src/dataplane/runner.js';
import { makeNetns, type Netns, plugIntoContainer, removeLeftoverNamespaces, sh, underlayPair } from '../helpers/netns.js';

beforeAll(() => removeLeftoverNamespaces());

const EP1 = '1'.repeat(64);
const EP2 = '2'.repeat(64);
const MAC1 = '02:42:0a:00:00:02';
const MAC2 = '02:42:0a:00:00:03';

interface Link { ifname: string; ifindex: number; mtu: number; address?: string; link?: string; master?: string; linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> } }
/** Every link of the namespace with its details, read with ip itself rather than through the code under test. */
const links = async (ns: Netns) => new Map((JSON.parse(sh('ip', ['-n', ns.name, '-d', '-j', 'link', 'show'])) as Link[]).map((x) => [x.ifname, x]));

/** A runner that notes the devices it reads one by one and the firewall commands it runs. */
class CountingRunner extends Runner {
  readonly calls: string[] = [];

  override async ipJson<T>(args: readonly string[]): Promise<T[]> {
    if (args.includes('dev')) this.calls.push(`ip ${args.join(' ')}`);
    return super.ipJson<T>(args);
  }

  override async iptables(args: readonly string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
    this.calls.push(`iptables ${args.join(' ')}`);
    return super.iptables(args);
  }
}

/** The data plane of a single host (its VTEP never carries traffic in these tests). */
const dataplaneIn = (host: Netns) => new Dataplane(new Runner(host.name), { vtep: '198.18.200.1', port: 4789 });

describe('data plane on real devices', () => {
  it('makes the VXLAN device and the host port on it idempotently, with the settings asked for', async () => {
    await using host = makeNetns('h');
    const dp = dataplaneIn(host);
    await dp.ensureNetwork({ vni: 4242, mtu: 1450 });
    const first = await links(host);
    await dp.ensureNetwork({ vni: 4242, mtu: 1450 }); // twice: no error, same devices
    const l = await links(host);
    const vx = l.get('tsvx-4242')!;
    expect(vx.linkinfo?.info_data).toMatchObject({ id: 4242, local: '198.18.200.1', port: 4789, learning: false, proxy: true });
    expect(vx.mtu).toBe(1450);
    const hp = l.get('tsh-4242')!;
    expect(hp.linkinfo?.info_kind).toBe('macvlan');
    expect(hp.linkinfo?.info_data).toMatchObject({ mode: 'bridge' });
    expect(hp.link).toBe('tsvx-4242');
    expect(hp.address).toBe(hostPortMac('198.18.200.1', 4242));
    expect(hp.mtu).toBe(1450);
    expect(hp.ifindex).toBe(first.get('tsh-4242')!.ifindex); // not made again
    // No bridge, so no frame between containers passes FORWARD; one rule keeps the host port from routing.
    expect(host.exec('iptables', '-S', 'FORWARD').split('\n').filter((r) => /tsh|TS-OVERLAY/.test(r))).toEqual(['-A FORWARD -i tsh-+ -j DROP']);
  });

  it('repairs a VXLAN device whose settings drifted (its host port goes with it), and a missing host port', async () => {
    await using host = makeNetns('h');
    const dp = dataplaneIn(host);
    await dp.ensureNetwork({ vni: 4300, mtu: 1450 });
    host.exec('ip', 'link', 'del', 'tsvx-4300');
    host.exec('ip', 'link', 'add', 'tsvx-4300', 'type', 'vxlan', 'id', '4300', 'local', '198.18.200.9', 'dstport', '4789');
    host.exec('ip', 'link', 'add', 'tsh-4300', 'link', 'tsvx-4300', 'type', 'macvlan', 'mode', 'private');
    await dp.ensureNetwork({ vni: 4300, mtu: 1450 });
    let l = await links(host);
    expect(l.get('tsvx-4300')?.linkinfo?.info_data).toMatchObject({ local: '198.18.200.1', learning: false });
    expect(l.get('tsh-4300')?.linkinfo?.info_data).toMatchObject({ mode: 'bridge' });
    host.exec('ip', 'link', 'del', 'tsh-4300');
    await dp.ensureNetwork({ vni: 4300, mtu: 1450 });
    l = await links(host);
    expect(l.get('tsh-4300')?.link).toBe('tsvx-4300');
    expect(l.get('tsh-4300')?.linkinfo?.info_data).toMatchObject({ mode: 'bridge' });
  });

  it("takes a reconcile pass's listing of devices as they should be for them, and reads them again when it is out of date", async () => {
    await using host = makeNetns('h');
    const runner = new CountingRunner(host.name);
    const dp = new Dataplane(runner, { vtep: '198.18.200.1', port: 4789 });
    await dp.ensureNetwork({ vni: 4310, mtu: 1450 });
    await dp.ensureNetwork({ vni: 4311, mtu: 1450 });
    await dp.ensurePort({ endpointId: EP1, vni: 4310, mac: MAC1, mtu: 1450 }); // a macvlan that is not a host port
    host.exec('ip', 'link', 'add', 'other0', 'type', 'bridge');
    host.exec('ip', 'link', 'add', 'othermv', 'link', 'other0', 'type', 'macvlan', 'mode', 'bridge');
    host.exec('iptables', '-D', 'FORWARD', '-i', 'tsh-+', '-j', 'DROP');
    const view = await dp.passView();
    expect([...view.links.keys()].sort()).toEqual(['tsh-4310', 'tsh-4311', 'tsvx-4310', 'tsvx-4311']);
    const before = await links(host);
    runner.calls.length = 0;

    // As listed and as they should be: nothing made again, the MTU still applied, the guard put back once.
    expect(await dp.ensureNetwork({ vni: 4310, mtu: 1400 }, view)).toBe(false);
    let l = await links(host);
    expect(l.get('tsvx-4310')!.ifindex).toBe(before.get('tsvx-4310')!.ifindex);
    expect(l.get('tsh-4310')!.ifindex).toBe(before.get('tsh-4310')!.ifindex);
    expect([l.get('tsvx-4310')!.mtu, l.get('tsh-4310')!.mtu]).toEqual([1400, 1400]);
    expect(view.guardChecked).toBe(true);
    expect(host.exec('iptables', '-S', 'FORWARD').split('\n').filter((r) => r.includes('tsh'))).toEqual(['-A FORWARD -i tsh-+ -j DROP']);
    // Neither device was read on its own: the listing stood for them.
    expect(runner.calls.filter((c) => c.startsWith('ip '))).toEqual([]);

    // Gone since the listing: the failing line sends it back to reading the devices, which makes them again.
    host.exec('ip', 'link', 'del', 'tsvx-4311');
    expect(await dp.ensureNetwork({ vni: 4311, mtu: 1450 }, view)).toBe(true);
    l = await links(host);
    expect(l.get('tsvx-4311')?.linkinfo?.info_data).toMatchObject({ id: 4311, learning: false });
    expect(l.get('tsh-4311')?.link).toBe('tsvx-4311');
    // The guard once for the pass: the put-back of the first network, nothing for the second.
    expect(runner.calls.filter((c) => c.startsWith('iptables '))).toEqual(['iptables -C FORWARD -i tsh-+ -j DROP', 'iptables -I FORWARD 1 -i tsh-+ -j DROP']);

    // Listed, but not as it should be (a private macvlan): made right, as without a listing.
    host.exec('ip', 'link', 'del', 'tsh-4311');
    host.exec('ip', 'link', 'add', 'tsh-4311', 'link', 'tsvx-4311', 'type', 'macvlan', 'mode', 'private');
    await dp.ensureNetwork({ vni: 4311, mtu: 1450 }, await dp.passView());
    expect((await links(host)).get('tsh-4311')?.linkinfo?.info_data).toMatchObject({ mode: 'bridge' });
  });

  it('deletes a network completely, and deleting twice is fine', async () => {
    await using host = makeNetns('h');
    const dp = dataplaneIn(host);
    await dp.ensureNetwork({ vni: 4400, mtu: 1450 });
    await dp.ensurePort({ endpointId: EP1, vni: 4400, mac: MAC1, mtu: 1450 });
    await dp.deletePort(EP1);
    await dp.deleteNetwork(4400);
    await dp.deleteNetwork(4400);
    await dp.deletePort(EP1);
    const names = [...(await links(host)).keys()];
    expect(names.filter((n) => n.startsWith('ts'))).toEqual([]);
  });

  it('finds the devices and the forward chain of earlier builds, and removes the chain once', async () => {
    await using host = makeNetns('h');
    const dp = dataplaneIn(host);
    await dp.ensureNetwork({ vni: 4451, mtu: 1450 });
    await dp.ensurePort({ endpointId: EP1, vni: 4451, mac: MAC1, mtu: 1450 });
    host.exec('ip', 'link', 'add', 'tsbr-4450', 'type', 'bridge');
    host.exec('ip', 'link', 'add', 'tsv-0123456789a', 'type', 'veth', 'peer', 'name', 'tsc-0123456789a');
    host.exec('iptables', '-N', 'TS-OVERLAY');
    host.exec('iptables', '-A', 'TS-OVERLAY', '-i', 'tsbr-4450', '-o', 'tsbr-4450', '-j', 'ACCEPT');
    host.exec('iptables', '-A', 'FORWARD', '-j', 'TS-OVERLAY');
    const own = await dp.ownDevices();
    expect([...own.hostPorts]).toEqual([4451]);
    expect([...own.vxlans]).toEqual([4451]);
    expect([...own.endpointPorts].sort()).toEqual(['tsc-0123456789a', `tsc-${EP1.slice(0, 11)}`]);
    expect(own.legacy.sort()).toEqual(['tsbr-4450', 'tsv-0123456789a']);
    expect(await dp.removeLegacyForwardChain()).toBe(true);
    expect(host.exec('iptables', '-S')).not.toContain('TS-OVERLAY');
    expect(await dp.removeLegacyForwardChain()).toBe(false);
  });

  it('takes over the VXLAN device of an earlier build, which was a port of its bridge', async () => {
    await using host = makeNetns('h');
    host.exec('ip', 'link', 'add', 'tsvx-4460', 'type', 'vxlan', 'id', '4460', 'local', '198.18.200.1', 'dstport', '4789', 'nolearning', 'proxy');
    host.exec('ip', 'link', 'add', 'tsbr-4460', 'type', 'bridge');
    host.exec('ip', 'link', 'set', 'tsvx-4460', 'master', 'tsbr-4460', 'up');
    const dp = dataplaneIn(host);
    expect(await dp.ensureNetwork({ vni: 4460, mtu: 1450 })).toBe(false); // the device is kept
    await dp.ensurePort({ endpointId: EP1, vni: 4460, mac: MAC1, mtu: 1450 });
    const l = await links(host);
    expect(l.get('tsvx-4460')?.master).toBeUndefined();
    expect(l.get('tsh-4460')?.link).toBe('tsvx-4460');
    expect(l.get(`tsc-${EP1.slice(0, 11)}`)?.link).toBe('tsvx-4460');
    expect((await dp.ownDevices()).legacy).toEqual(['tsbr-4460']);
  });

  it('makes many ports asked for at once, even when a leftover is in the way of one', async () => {
    await using host = makeNetns('h');
    const dp = dataplaneIn(host);
    await dp.ensureNetwork({ vni: 4500, mtu: 1450 });
    const ids = Array.from({ length: 24 }, (_, i) => i.toString(16).padStart(2, '0').repeat(32));
    host.exec('ip', 'link', 'add', `tsc-${ids[5]!.slice(0, 11)}`, 'type', 'veth', 'peer', 'name', 'leftover'); // in the way
    const ports = await Promise.all(ids.map((endpointId, i) => dp.ensurePort({ endpointId, vni: 4500, mac: `02:42:0a:00:01:${i.toString(16).padStart(2, '0')}`, mtu: 1450 })));
    const l = await links(host);
    for (const [i, id] of ids.entries()) {
      expect(ports[i]).toBe(`tsc-${id.slice(0, 11)}`);
      expect(l.get(ports[i]!)?.link, id).toBe('tsvx-4500');
      expect(l.get(ports[i]!)?.linkinfo?.info_kind).toBe('macvlan');
      expect(l.get(ports[i]!)?.address).toBe(`02:42:0a:00:01:${i.toString(16).padStart(2, '0')}`);
    }
    expect(l.has('leftover')).toBe(false);
  });

  it('routes nothing a container sends to the host port for elsewhere (and would without its rule: the control)', async () => {
    await using host = makeNetns('h');
    await using ctr = makeNetns('c');
    await using outside = makeNetns('o');
    const dp = dataplaneIn(host);
    await dp.ensureNetwork({ vni: 4650, mtu: 1450 });
    plugIntoContainer(host, ctr, await dp.ensurePort({ endpointId: EP1, vni: 4650, mac: MAC1, mtu: 1450 }), '10.46.0.2/24');
    // A router-shaped host: forwarding on, an address on the host port's side, a network beyond it.
    host.exec('sysctl', '-qw', 'net.ipv4.ip_forward=1');
    host.exec('ip', 'addr', 'add', '10.46.0.1/24', 'dev', 'tsh-4650');
    sh('ip', ['-n', host.name, 'link', 'add', 'out0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.name]);
    host.exec('ip', 'addr', 'add', '198.18.211.1/24', 'dev', 'out0');
    host.exec('ip', 'link', 'set', 'out0', 'up');
    outside.exec('ip', 'addr', 'add', '198.18.211.2/24', 'dev', 'eth0');
    outside.exec('ip', 'link', 'set', 'eth0', 'up');
    outside.exec('iptables', '-A', 'INPUT', '-p', 'icmp', '-j', 'ACCEPT'); // counts what arrives
    ctr.exec('ip', 'route', 'add', '198.18.211.0/24', 'via', '10.46.0.1');
    const arrived = () => Number(outside.exec('iptables', '-L', 'INPUT', '-v', '-n', '-x').split('\n')[2]!.trim().split(/\s+/)[0]);
    ctr.tryExec('ping', '-c', '2', '-W', '1', '198.18.211.2');
    expect(arrived()).toBe(0);
    host.exec('iptables', '-D', 'FORWARD', '-i', 'tsh-+', '-j', 'DROP');
    ctr.tryExec('ping', '-c', '2', '-W', '1', '198.18.211.2');
    expect(arrived()).toBeGreaterThan(0);
  });

  it('switches frames between two containers of a network on one host, with no remote peer known', async () => {
    await using host = makeNetns('h');
    await using c1 = makeNetns('c1');
    await using c2 = makeNetns('c2');
    const dp = dataplaneIn(host);
    await dp.ensureNetwork({ vni: 4600, mtu: 1450 });
    plugIntoContainer(host, c1, await dp.ensurePort({ endpointId: EP1, vni: 4600, mac: MAC1, mtu: 1450 }), '10.0.0.2/24');
    plugIntoContainer(host, c2, await dp.ensurePort({ endpointId: EP2, vni: 4600, mac: MAC2, mtu: 1450 }), '10.0.0.3/24');
    expect(c1.exec('ping', '-c', '2', '-W', '2', '10.0.0.3')).toMatch(/2 received/);
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
    plugIntoContainer(h1, c1, await dp1.ensurePort({ endpointId: EP1, vni: 5000, mac: MAC1, mtu: 1450 }), '10.0.0.2/24');
    plugIntoContainer(h2, c2, await dp2.ensurePort({ endpointId: EP2, vni: 5000, mac: MAC2, mtu: 1450 }), '10.0.0.3/24');
    expect(c1.exec('cat', '/sys/class/net/eth0/mtu').trim()).toBe('1450');
    expect(c1.exec('cat', '/sys/class/net/eth0/address').trim()).toBe(MAC1);

    // Before the peers are known, nothing crosses: learning is off.
    expect(c1.tryExec('ping', '-c', '1', '-W', '1', '10.0.0.3').ok).toBe(false);

    expect(await dp1.applyPeers(5000, desiredPeers([{ id: 'peer', mac: MAC2, ip: '10.0.0.3', vtep: vtepB }]))).toBe(3);
    expect(await dp2.applyPeers(5000, desiredPeers([{ id: 'peer', mac: MAC1, ip: '10.0.0.2', vtep: vtepA }]))).toBe(3);
    expect(await dp1.applyPeers(5000, desiredPeers([{ id: 'peer', mac: MAC2, ip: '10.0.0.3', vtep: vtepB }]))).toBe(0); // in line already
    expect(c1.exec('ping', '-c', '2', '-W', '2', '10.0.0.3')).toMatch(/2 received/);
    // A full-size packet fits the 1450 MTU without fragmentation on the 1500 underlay.
    expect(c2.exec('ping', '-c', '1', '-M', 'do', '-s', '1422', '10.0.0.2')).toMatch(/1 received/);

    // The peer leaves: its entries go, and so does reachability.
    expect(await dp1.applyPeers(5000, desiredPeers([]))).toBe(3);
    const left = await dp1.readPeers(5000);
    expect([left.unicast.size, left.flood.size, left.neighbours.size]).toEqual([0, 0, 0]);
    expect(c1.tryExec('ping', '-c', '1', '-W', '1', '10.0.0.3').ok).toBe(false);
  });

  it("reads every network's peer entries in one go as each device's own reading gives them", async () => {
    await using host = makeNetns('h');
    const dp = dataplaneIn(host);
    for (const vni of [5101, 5102, 5103]) await dp.ensureNetwork({ vni, mtu: 1450 });
    await dp.ensurePort({ endpointId: EP1, vni: 5101, mac: MAC1, mtu: 1450 }); // its own MAC on the device: not a peer
    await dp.applyPeers(5101, desiredPeers([{ id: 'a', mac: MAC2, ip: '10.0.0.3', vtep: '198.18.200.2' }, { id: 'b', mac: '02:42:0a:00:00:09', ip: '10.0.0.9', vtep: '198.18.200.3' }]));
    await dp.applyPeers(5102, desiredPeers([{ id: 'c', mac: MAC2, ip: '10.1.0.3', vtep: '198.18.200.4' }]));
    // Not ours: a VXLAN device of another name with an entry of its own.
    host.exec('ip', 'link', 'add', 'vxother', 'type', 'vxlan', 'id', '77', 'dstport', '4789');
    host.exec('bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'vxother', 'dst', '198.18.200.8');

    const all = await dp.readAllPeers();
    expect([...all.keys()].sort()).toEqual([5101, 5102]); // 5103 has no entries
    for (const vni of [5101, 5102]) expect(all.get(vni)).toEqual(await dp.readPeers(vni));
    expect(all.get(5101)!.unicast.size).toBe(2);
    expect([...all.get(5102)!.flood]).toEqual(['198.18.200.4']);

    // Given as what the kernel holds, it is what the diff starts from: nothing to change.
    expect(await dp.applyPeers(5102, desiredPeers([{ id: 'c', mac: MAC2, ip: '10.1.0.3', vtep: '198.18.200.4' }]), all.get(5102))).toBe(0);
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
    plugIntoContainer(h1, a1, await dp1.ensurePort({ endpointId: EP1, vni: 6001, mac: MAC1, mtu: 1450 }), '10.9.0.2/24');
    plugIntoContainer(h2, b2, await dp2.ensurePort({ endpointId: EP2, vni: 6002, mac: MAC2, mtu: 1450 }), '10.9.0.3/24');
    // Even if host 1 (wrongly) learnt B's endpoint, VNI 6001 frames are not delivered to 6002.
    await dp1.applyPeers(6001, desiredPeers([{ id: 'peer', mac: MAC2, ip: '10.9.0.3', vtep: vtepB }]));
    expect(a1.tryExec('ping', '-c', '2', '-W', '1', '10.9.0.3').ok).toBe(false);
  });
});
