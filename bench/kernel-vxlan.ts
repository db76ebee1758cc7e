import { type ChildProcess, execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { type BenchLab, namedNet } from './bench-lab.js';

const run = promisify(execFile);
/** From the root namespaces: `ip netns add` inside `ip netns exec` would bind its name in a private mount namespace. */
const ip = (...args: string[]) => run('ip', args);

/**
 * The data-plane limit: VXLAN made by hand in a lab's two nodes, with static FDB entries and no
 * control plane at all, in these shapes:
 *  - "device": an address on the VXLAN device itself (kvx1, VNI 43), nothing else in the path;
 *  - "host namespace": what ts-overlay builds for a container, a namespace ($LAB-hN-kvx) joined
 *    by a veth to a bridge that holds the VXLAN device (kvx0, VNI 42), bridge and VXLAN device
 *    in the node's namespace, where the engine turned on bridge-nf-call-iptables and keeps its
 *    iptables rules and conntrack: bridged frames pass the node's netfilter hooks;
 *  - "network namespace": Docker's overlay layout, the same bridge - VXLAN - veth in a namespace
 *    of the network's own ($LAB-hN-kvn; kvx2, VNI 44), which has no rules and no conntrack.
 *    The VXLAN device is made in the node's namespace and then moved, as Docker does: its UDP
 *    socket stays in the namespace it was made in, the one that holds the underlay address.
 *    The container namespace is $LAB-hN-kvc;
 *  - "macvlan": no bridge and no veth, the container's interface a macvlan (mode bridge) whose
 *    lower device is the VXLAN device (kvx3, VNI 45) in the node's namespace: frames between the
 *    container and the VXLAN device are switched by the macvlan driver by destination MAC and
 *    never reach a bridge, so br_netfilter never hands them to the node's iptables. The
 *    container namespace is $LAB-hN-kvm;
 *  - "macvlan with a container's rules": a second macvlan on kvx3 in a namespace ($LAB-hN-kvr)
 *    that gets a copy of the iptables rules the engine puts in a container's namespace
 *    (`copyContainerRules`): its embedded DNS's NAT rules, which switch conntrack on there. Every
 *    container on a user-defined network has them, whatever the driver; the hand-made namespaces
 *    above have none.
 * Ports 4790 (kvx0, kvx1), 4791 (kvx2, a socket of its own, as each Docker overlay network's
 * VNI has the socket only in the node's namespace) and 4792 (kvx3): neither the plugin's VXLAN guard (an INPUT
 * jump for 4789 only) nor its devices see them, and the lab's INPUT accepts the rest.
 * Addresses from 192.0.2.0/24, a /26 per VXLAN device; the namespaces go with `scripts/lab down`
 * (they are $LAB-hN-*).
 */
const PORT = '4790';
const NETNS_PORT = '4791';
const MACVLAN_PORT = '4792';
/** Host H's underlay address, the VTEP of every VXLAN device in its node. */
export const vtep = (host: number) => `198.18.0.${10 + host}`;
const mac = (host: number) => `02:00:c0:00:02:0${host}`;
const netnsMac = (host: number) => `02:00:c0:00:02:8${host}`;
const macvlanMac = (host: number) => `02:00:c0:00:02:c${host}`;
export const KVX_NS_ADDR = (host: number) => `192.0.2.${host}`;
export const KVX_DEV_ADDR = (host: number) => `192.0.2.${64 + host}`;
export const KVX_NETNS_ADDR = (host: number) => `192.0.2.${128 + host}`;
export const KVX_MACVLAN_ADDR = (host: number) => `192.0.2.${192 + host}`;
/** The macvlan shape's second pair, in the same /26 (same VXLAN device). */
export const KVX_RULES_ADDR = (host: number) => `192.0.2.${196 + host}`;
const rulesMac = (host: number) => `02:00:c0:00:02:d${host}`;

/**
 * Copies the iptables rules of network namespace file FROM into TO, and checks that the engine's
 * embedded-DNS rules came along: without them the shape "with a container's rules" would be the
 * bare one under the wrong name.
 */
export async function copyIptablesRules(from: string, to: string): Promise<void> {
  const { stdout: rules } = await run('nsenter', [`--net=${from}`, 'iptables-save']);
  execFileSync('nsenter', [`--net=${to}`, 'iptables-restore'], { input: rules, stdio: ['pipe', 'ignore', 'pipe'] });
  const { stdout: nat } = await run('nsenter', [`--net=${to}`, 'iptables', '-t', 'nat', '-S']);
  if (!nat.includes('DOCKER_OUTPUT')) throw new Error(`the rules copied from ${from} to ${to} lack the engine's DOCKER_OUTPUT chain:\n${rules}`);
}

/** Address (ADDR(h)/PREFIX), link and the peer's static neighbour entry in container namespace C of host H. */
async function containerEnd(c: string, addr: (host: number) => string, macOf: (host: number) => string, h: number, prefix: number): Promise<void> {
  await ip('-n', c, 'link', 'set', 'lo', 'up');
  await ip('-n', c, 'addr', 'add', `${addr(h)}/${prefix}`, 'dev', 'eth0');
  await ip('-n', c, 'link', 'set', 'eth0', 'up');
  await ip('-n', c, 'neigh', 'replace', addr(3 - h), 'lladdr', macOf(3 - h), 'dev', 'eth0', 'nud', 'permanent');
}

/**
 * The container end of a macvlan shape on host H: a new namespace NS whose eth0 is a macvlan
 * (mode bridge) on the node's device LOWER, made in the node under the name TEMP and moved (its
 * lower device stays in the node), with MAC(h), ADDR(h)/PREFIX and the peer's static neighbour
 * entry. The FDB entries on LOWER are the caller's.
 */
export async function macvlanEnd(lab: BenchLab, h: number, e: { ns: string; lower: string; temp: string; mtu: number; mac: (host: number) => string; addr: (host: number) => string; prefix: number }): Promise<void> {
  await ip('netns', 'add', e.ns);
  await lab.exec(h, 'ip', 'link', 'add', e.temp, 'link', e.lower, 'mtu', String(e.mtu), 'address', e.mac(h), 'type', 'macvlan', 'mode', 'bridge');
  await lab.exec(h, 'ip', 'link', 'set', e.temp, 'netns', e.ns);
  await ip('-n', e.ns, 'link', 'set', e.temp, 'name', 'eth0');
  await containerEnd(e.ns, e.addr, e.mac, h, e.prefix);
}

export class KernelVxlan {
  constructor(private readonly lab: BenchLab) {}

  /** The container of the host-namespace shape. */
  containerNs(host: number): string {
    return `${this.lab.ns(host)}-kvx`;
  }

  netFile(host: number): string {
    return namedNet(this.containerNs(host));
  }

  /** The network's own namespace (bridge and VXLAN device) of the network-namespace shape. */
  networkNs(host: number): string {
    return `${this.lab.ns(host)}-kvn`;
  }

  /** The container of the network-namespace shape. */
  netnsContainerNs(host: number): string {
    return `${this.lab.ns(host)}-kvc`;
  }

  netnsNetFile(host: number): string {
    return namedNet(this.netnsContainerNs(host));
  }

  /** The container of the macvlan shape. */
  macvlanContainerNs(host: number): string {
    return `${this.lab.ns(host)}-kvm`;
  }

  macvlanNetFile(host: number): string {
    return namedNet(this.macvlanContainerNs(host));
  }

  /** The container of the macvlan shape with a container's rules. */
  rulesContainerNs(host: number): string {
    return `${this.lab.ns(host)}-kvr`;
  }

  rulesNetFile(host: number): string {
    return namedNet(this.rulesContainerNs(host));
  }

  /** Every shape's container namespace on host H (each has its eth0): a new shape's goes here once. */
  private containerNamespaces(host: number): string[] {
    return [this.containerNs(host), this.netnsContainerNs(host), this.macvlanContainerNs(host), this.rulesContainerNs(host)];
  }

  /**
   * Copies the iptables rules of each host's container (network namespace files FROM1, FROM2,
   * as their engines made them) into that host's namespace of the macvlan shape with a
   * container's rules.
   */
  async copyContainerRules(from1: string, from2: string): Promise<void> {
    await copyIptablesRules(from1, namedNet(this.rulesContainerNs(1)));
    await copyIptablesRules(from2, namedNet(this.rulesContainerNs(2)));
  }

  async setUp(mtu: number): Promise<void> {
    await this.tearDown();
    for (const h of [1, 2]) {
      const peer = 3 - h;
      const c = this.containerNs(h);
      const x = (...cmd: string[]) => this.lab.exec(h, ...cmd);
      await x('ip', 'link', 'add', 'kvx0', 'mtu', String(mtu), 'type', 'vxlan', 'id', '42', 'local', vtep(h), 'dstport', PORT, 'nolearning');
      await x('ip', 'link', 'add', 'kbr0', 'mtu', String(mtu), 'type', 'bridge');
      await x('ip', 'link', 'set', 'kvx0', 'master', 'kbr0', 'up');
      await x('ip', 'link', 'set', 'kbr0', 'up');
      await ip('netns', 'add', c);
      await x('ip', 'link', 'add', 'kve0', 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c, 'mtu', String(mtu), 'address', mac(h));
      await x('ip', 'link', 'set', 'kve0', 'master', 'kbr0', 'up');
      await containerEnd(c, KVX_NS_ADDR, mac, h, 26);
      await x('bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'kvx0', 'dst', vtep(peer));
      await x('bridge', 'fdb', 'replace', mac(peer), 'dev', 'kvx0', 'dst', vtep(peer), 'self', 'permanent');
      // The engine set bridge-nf-call-iptables and FORWARD DROP in this namespace (lab.md).
      await x('iptables', '-I', 'FORWARD', '-i', 'kbr0', '-o', 'kbr0', '-j', 'ACCEPT');

      await x('ip', 'link', 'add', 'kvx1', 'mtu', String(mtu), 'type', 'vxlan', 'id', '43', 'local', vtep(h), 'dstport', PORT, 'nolearning');
      await x('ip', 'addr', 'add', `${KVX_DEV_ADDR(h)}/26`, 'dev', 'kvx1');
      await x('ip', 'link', 'set', 'kvx1', 'up');
      await x('bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'kvx1', 'dst', vtep(peer));

      await this.setUpNetworkNs(h, mtu);
      await this.setUpMacvlan(h, mtu);
    }
    // kvx1's MAC is the kernel's choice: learn the peer's and pin it, as for the namespace path.
    for (const h of [1, 2]) {
      const peerMac = JSON.parse(await this.lab.exec(3 - h, 'ip', '-j', 'link', 'show', 'kvx1'))[0].address as string;
      await this.lab.exec(h, 'bridge', 'fdb', 'replace', peerMac, 'dev', 'kvx1', 'dst', vtep(3 - h), 'self', 'permanent');
      await this.lab.exec(h, 'ip', 'neigh', 'replace', KVX_DEV_ADDR(3 - h), 'lladdr', peerMac, 'dev', 'kvx1', 'nud', 'permanent');
    }
  }

  /** Docker's overlay layout on host H: bridge and VXLAN device in the network's own namespace. */
  private async setUpNetworkNs(h: number, mtu: number): Promise<void> {
    const peer = 3 - h;
    const n = this.networkNs(h);
    const c = this.netnsContainerNs(h);
    const x = (...cmd: string[]) => this.lab.exec(h, ...cmd);
    await ip('netns', 'add', n);
    await ip('-n', n, 'link', 'set', 'lo', 'up');
    // Made here, where the underlay address is, so its socket is bound here; then moved.
    await x('ip', 'link', 'add', 'kvx2', 'mtu', String(mtu), 'type', 'vxlan', 'id', '44', 'local', vtep(h), 'dstport', NETNS_PORT, 'nolearning');
    await x('ip', 'link', 'set', 'kvx2', 'netns', n);
    await ip('-n', n, 'link', 'add', 'kbr2', 'mtu', String(mtu), 'type', 'bridge');
    await ip('-n', n, 'link', 'set', 'kvx2', 'master', 'kbr2', 'up');
    await ip('-n', n, 'link', 'set', 'kbr2', 'up');
    await ip('netns', 'add', c);
    await ip('-n', n, 'link', 'add', 'kve2', 'mtu', String(mtu), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', c, 'mtu', String(mtu), 'address', netnsMac(h));
    await ip('-n', n, 'link', 'set', 'kve2', 'master', 'kbr2', 'up');
    await containerEnd(c, KVX_NETNS_ADDR, netnsMac, h, 26);
    await run('bridge', ['-n', n, 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'kvx2', 'dst', vtep(peer)]);
    await run('bridge', ['-n', n, 'fdb', 'replace', netnsMac(peer), 'dev', 'kvx2', 'dst', vtep(peer), 'self', 'permanent']);
  }

  /** The macvlan shape on host H: the container's interface hangs off the VXLAN device itself. */
  private async setUpMacvlan(h: number, mtu: number): Promise<void> {
    const peer = 3 - h;
    const c = this.macvlanContainerNs(h);
    const x = (...cmd: string[]) => this.lab.exec(h, ...cmd);
    await x('ip', 'link', 'add', 'kvx3', 'mtu', String(mtu), 'type', 'vxlan', 'id', '45', 'local', vtep(h), 'dstport', MACVLAN_PORT, 'nolearning');
    await x('ip', 'link', 'set', 'kvx3', 'up');
    await macvlanEnd(this.lab, h, { ns: c, lower: 'kvx3', temp: 'kmv3', mtu, mac: macvlanMac, addr: KVX_MACVLAN_ADDR, prefix: 26 });
    await x('bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'kvx3', 'dst', vtep(peer));
    await x('bridge', 'fdb', 'replace', macvlanMac(peer), 'dev', 'kvx3', 'dst', vtep(peer), 'self', 'permanent');

    await macvlanEnd(this.lab, h, { ns: this.rulesContainerNs(h), lower: 'kvx3', temp: 'kmv4', mtu, mac: rulesMac, addr: KVX_RULES_ADDR, prefix: 26 });
    await x('bridge', 'fdb', 'replace', rulesMac(peer), 'dev', 'kvx3', 'dst', vtep(peer), 'self', 'permanent');
  }

  async setMtu(mtu: number): Promise<void> {
    for (const h of [1, 2]) {
      for (const dev of ['kvx0', 'kbr0', 'kve0', 'kvx1']) await this.lab.exec(h, 'ip', 'link', 'set', dev, 'mtu', String(mtu));
      for (const dev of ['kvx2', 'kbr2', 'kve2']) await ip('-n', this.networkNs(h), 'link', 'set', dev, 'mtu', String(mtu));
      await this.lab.exec(h, 'ip', 'link', 'set', 'kvx3', 'mtu', String(mtu));
      for (const c of this.containerNamespaces(h)) await ip('-n', c, 'link', 'set', 'eth0', 'mtu', String(mtu));
    }
  }

  async tearDown(): Promise<void> {
    for (const h of [1, 2]) {
      for (const dev of ['kvx0', 'kvx1', 'kbr0', 'kvx3']) await this.lab.exec(h, 'ip', 'link', 'del', dev).catch(() => undefined);
      await this.lab.exec(h, 'iptables', '-D', 'FORWARD', '-i', 'kbr0', '-o', 'kbr0', '-j', 'ACCEPT').catch(() => undefined);
      // Deleted before its namespace: a namespace goes away asynchronously, and the VXLAN
      // device (VNI 44 in the node's namespace) must be gone before a new setUp makes it again.
      await ip('-n', this.networkNs(h), 'link', 'del', 'kvx2').catch(() => undefined);
      for (const ns of [...this.containerNamespaces(h), this.networkNs(h)]) await ip('netns', 'del', ns).catch(() => undefined);
    }
  }
}

/**
 * How the experiment scripts built on these paths end: their iperf3 servers stopped and, unless
 * BENCH_KEEP_LABS is set, the hand-made paths and the lab taken down (a failure there is logged).
 */
export async function endExperiment(lab: BenchLab, kvx: KernelVxlan, servers: readonly ChildProcess[], log: (msg: string) => void): Promise<void> {
  for (const s of servers) s.kill();
  if (process.env.BENCH_KEEP_LABS) return;
  await kvx.tearDown().catch(() => undefined);
  await lab.script('down').catch((e: Error) => log(e.message));
}
