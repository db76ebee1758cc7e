import { beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane/dataplane.js';
import { desiredPeers } from '../../src/dataplane/peers.js';
import { Runner } from '../../src/dataplane/runner.js';
import { GUARD_CHAIN, VxlanGuard } from '../../src/dataplane/vxlan-guard.js';
import { makeNetns, removeLeftoverNamespaces, sh, type Netns } from '../helpers/netns.js';

beforeAll(() => removeLeftoverNamespaces());

const VNI = 7000;
const VX = `tsvx-${VNI}`;
const HOST_PORT = `tsh-${VNI}`;
const M1 = '198.18.201.1';
const M2 = '198.18.201.2';
const STRANGER = '198.18.201.99';
const MAC1 = '02:42:0a:4d:00:01';
const MAC2 = '02:42:0a:4d:00:02';

/** Joins `host` to the underlay bridge in `ul` with a veth, and gives it `addr`/24. */
function attach(ul: Netns, host: Netns, port: string, addr: string): void {
  sh('ip', ['link', 'add', 'ul0', 'netns', host.name, 'type', 'veth', 'peer', 'name', port, 'netns', ul.name]);
  sh('ip', ['-n', ul.name, 'link', 'set', port, 'master', 'br0', 'up']);
  sh('ip', ['-n', host.name, 'addr', 'add', `${addr}/24`, 'dev', 'ul0']);
  sh('ip', ['-n', host.name, 'link', 'set', 'ul0', 'up']);
}

/** A member: the plugin's own VXLAN device and host port, with an overlay address on the host port. */
async function member(host: Netns, vtep: string, mac: string, overlayIp: string): Promise<Dataplane> {
  const dp = new Dataplane(new Runner(host.name), { vtep, port: 4789 });
  await dp.ensureNetwork({ vni: VNI, mtu: 1450 });
  host.exec('ip', 'link', 'set', HOST_PORT, 'address', mac);
  host.exec('ip', 'addr', 'add', `${overlayIp}/24`, 'dev', HOST_PORT);
  return dp;
}

/** Frames the member's VXLAN device took off the underlay: what reached the overlay. */
const rxPackets = (host: Netns, dev: string) =>
  (JSON.parse(host.exec('ip', '-s', '-j', 'link', 'show', 'dev', dev)) as Array<{ stats64: { rx: { packets: number } } }>)[0]!.stats64.rx.packets;

/** Packets the guard's final DROP has counted. */
const dropped = (host: Netns) => {
  const line = host.exec('iptables', '-w', '-L', GUARD_CHAIN, '-v', '-n', '-x').split('\n').find((l) => /\sDROP\s/.test(l));
  return Number(line?.trim().split(/\s+/)[0] ?? NaN);
};

describe('VXLAN guard on real namespaces', () => {
  it('keeps a stranger\'s VXLAN frames off a member\'s overlay while the other member still gets through', async () => {
    await using ul = makeNetns('ul');
    await using h1 = makeNetns('m1');
    await using h2 = makeNetns('m2');
    await using s = makeNetns('st');
    // No IPv6: its neighbour discovery and MLD would flood member traffic onto the counters.
    for (const n of [ul, h1, h2, s]) n.exec('sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
    ul.exec('ip', 'link', 'add', 'br0', 'type', 'bridge');
    ul.exec('ip', 'link', 'set', 'br0', 'up');
    attach(ul, h1, 'p1', M1);
    attach(ul, h2, 'p2', M2);
    attach(ul, s, 'p9', STRANGER);

    const dp1 = await member(h1, M1, MAC1, '10.77.0.1');
    const dp2 = await member(h2, M2, MAC2, '10.77.0.2');
    await dp1.applyPeers(VNI, desiredPeers([{ id: 'peer', mac: MAC2, ip: '10.77.0.2', vtep: M2 }]));
    await dp2.applyPeers(VNI, desiredPeers([{ id: 'peer', mac: MAC1, ip: '10.77.0.1', vtep: M1 }]));

    // The stranger speaks real VXLAN: same VNI, port and overlay subnet, aimed at member 1.
    s.exec('ip', 'link', 'add', 'vx0', 'type', 'vxlan', 'id', String(VNI), 'local', STRANGER, 'remote', M1, 'dstport', '4789');
    s.exec('ip', 'addr', 'add', '10.77.0.99/24', 'dev', 'vx0');
    s.exec('ip', 'link', 'set', 'vx0', 'up');
    // Its neighbour entry for member 1 is static: each ping is exactly one encapsulated frame.
    s.exec('ip', 'neigh', 'add', '10.77.0.1', 'lladdr', MAC1, 'dev', 'vx0', 'nud', 'permanent');
    const strangerPings = () => s.tryExec('ping', '-c', '3', '-i', '0.2', '-W', '1', '10.77.0.1');

    // Control: with no guard, the stranger's frames do land on member 1's overlay.
    const open = rxPackets(h1, VX);
    strangerPings();
    expect(rxPackets(h1, VX) - open).toBeGreaterThanOrEqual(3);
    expect(h2.exec('ping', '-c', '2', '-W', '2', '10.77.0.1')).toMatch(/2 received/);

    await new VxlanGuard(new Runner(h1.name), 4789).apply([M1, M2]);

    const guarded = rxPackets(h1, VX);
    expect(strangerPings().ok).toBe(false);
    expect(rxPackets(h1, VX) - guarded).toBe(0);
    expect(dropped(h1)).toBeGreaterThanOrEqual(3); // dropped by our rule, not lost for another reason
    const before = rxPackets(h1, VX);
    expect(h2.exec('ping', '-c', '2', '-W', '2', '10.77.0.1')).toMatch(/2 received/);
    expect(rxPackets(h1, VX)).toBeGreaterThanOrEqual(before + 2);

    // Member 2's lease expires: it is dropped as well; it registers again: back in.
    const guard = new VxlanGuard(new Runner(h1.name), 4789);
    await guard.apply([M1]);
    expect(h2.tryExec('ping', '-c', '1', '-W', '1', '10.77.0.1').ok).toBe(false);
    await guard.apply([M1, M2]);
    expect(h2.exec('ping', '-c', '2', '-W', '2', '10.77.0.1')).toMatch(/2 received/);
  });

  it('is idempotent, repairs flushed or tampered rules, follows the port, and removes everything', async () => {
    await using h = makeNetns('g');
    const rules = () => h.exec('iptables', '-w', '-S');
    const pristine = rules();
    const guard = new VxlanGuard(new Runner(h.name), 4789);

    expect(await guard.apply(['198.18.201.2', '198.18.201.1', '198.18.201.2'])).toBeGreaterThan(0);
    const applied = rules();
    expect(h.exec('iptables', '-w', '-S', GUARD_CHAIN).trim().split('\n')).toEqual([
      `-N ${GUARD_CHAIN}`,
      `-A ${GUARD_CHAIN} -s 198.18.201.1/32 -j ACCEPT`,
      `-A ${GUARD_CHAIN} -s 198.18.201.2/32 -j ACCEPT`,
      `-A ${GUARD_CHAIN} -j DROP`,
    ]);
    expect(h.exec('iptables', '-w', '-S', 'INPUT')).toContain(`-A INPUT -p udp -m udp --dport 4789 -j ${GUARD_CHAIN}`);
    expect(await guard.apply(['198.18.201.1', '198.18.201.2'])).toBe(0);
    expect(rules()).toBe(applied);

    // A node comes and one goes: the new one is accepted, the old one no longer.
    await guard.apply(['198.18.201.1', '198.18.201.3']);
    const changed = h.exec('iptables', '-w', '-S', GUARD_CHAIN).trim().split('\n');
    expect(changed.slice(1).sort()).toEqual([
      `-A ${GUARD_CHAIN} -j DROP`,
      `-A ${GUARD_CHAIN} -s 198.18.201.1/32 -j ACCEPT`,
      `-A ${GUARD_CHAIN} -s 198.18.201.3/32 -j ACCEPT`,
    ]);
    expect(changed.at(-1)).toBe(`-A ${GUARD_CHAIN} -j DROP`);
    await guard.apply(['198.18.201.1', '198.18.201.2']);

    // Someone flushes the chain, or INPUT, or leaves junk in our chain: the next pass fixes it.
    h.exec('iptables', '-w', '-F', GUARD_CHAIN);
    await guard.apply(['198.18.201.1', '198.18.201.2']);
    expect(rules()).toBe(applied);
    h.exec('iptables', '-w', '-F', 'INPUT');
    await guard.apply(['198.18.201.1', '198.18.201.2']);
    expect(rules()).toBe(applied);
    h.exec('iptables', '-w', '-I', GUARD_CHAIN, '1', '-j', 'DROP');
    h.exec('iptables', '-w', '-I', GUARD_CHAIN, '3', '-s', '192.0.2.7/32', '-j', 'ACCEPT');
    h.exec('iptables', '-w', '-A', GUARD_CHAIN, '-s', '198.18.201.1/32', '-j', 'ACCEPT');
    h.exec('iptables', '-w', '-A', 'INPUT', '-p', 'udp', '-m', 'udp', '--dport', '4789', '-j', GUARD_CHAIN);
    await guard.apply(['198.18.201.1', '198.18.201.2']);
    expect(rules()).toBe(applied);

    // Not an address: ignored, never handed to iptables as options.
    expect(await guard.apply(['198.18.201.1', '198.18.201.2', '1.2.3.4 -j ACCEPT', '01.2.3.4'])).toBe(0);

    // Restarted with another --vxlan-port: the old jump goes, the new one comes.
    await new VxlanGuard(new Runner(h.name), 8472).apply(['198.18.201.1', '198.18.201.2']);
    const input = h.exec('iptables', '-w', '-S', 'INPUT');
    expect(input).toContain(`--dport 8472 -j ${GUARD_CHAIN}`);
    expect(input).not.toContain('--dport 4789');

    expect(await guard.remove()).toBeGreaterThan(0);
    expect(rules()).toBe(pristine);
    expect(await guard.remove()).toBe(0);
    expect(rules()).toBe(pristine);
  });
});
