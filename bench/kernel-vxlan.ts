import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { type BenchLab, namedNet } from './bench-lab.js';

const run = promisify(execFile);
/** From the root namespaces: `ip netns add` inside `ip netns exec` would bind its name in a private mount namespace. */
const ip = (...args: string[]) => run('ip', args);

/**
 * The data-plane limit: VXLAN made by hand in a lab's two nodes, with static FDB entries and no
 * control plane at all, in two shapes:
 *  - "device": an address on the VXLAN device itself (kvx1, VNI 43), nothing else in the path;
 *  - "namespace": what every overlay builds for a container, a namespace ($LAB-hN-kvx) joined
 *    by a veth to a bridge that holds the VXLAN device (kvx0, VNI 42).
 * Port 4790, so neither the plugin's VXLAN guard (4789) nor its devices share the socket.
 * Addresses from 192.0.2.0/24; the namespaces go with `scripts/lab down` (they are $LAB-hN-*).
 */
const PORT = '4790';
const vtep = (host: number) => `198.18.0.${10 + host}`;
const mac = (host: number) => `02:00:c0:00:02:0${host}`;
export const KVX_NS_ADDR = (host: number) => `192.0.2.${host}`;
export const KVX_DEV_ADDR = (host: number) => `192.0.2.${64 + host}`;

export class KernelVxlan {
  constructor(private readonly lab: BenchLab) {}

  containerNs(host: number): string {
    return `${this.lab.ns(host)}-kvx`;
  }

  netFile(host: number): string {
    return namedNet(this.containerNs(host));
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
      await ip('-n', c, 'link', 'set', 'lo', 'up');
      await ip('-n', c, 'addr', 'add', `${KVX_NS_ADDR(h)}/26`, 'dev', 'eth0');
      await ip('-n', c, 'link', 'set', 'eth0', 'up');
      await ip('-n', c, 'neigh', 'replace', KVX_NS_ADDR(peer), 'lladdr', mac(peer), 'dev', 'eth0', 'nud', 'permanent');
      await x('bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'kvx0', 'dst', vtep(peer));
      await x('bridge', 'fdb', 'replace', mac(peer), 'dev', 'kvx0', 'dst', vtep(peer), 'self', 'permanent');
      // The engine set bridge-nf-call-iptables and FORWARD DROP in this namespace (lab.md).
      await x('iptables', '-I', 'FORWARD', '-i', 'kbr0', '-o', 'kbr0', '-j', 'ACCEPT');

      await x('ip', 'link', 'add', 'kvx1', 'mtu', String(mtu), 'type', 'vxlan', 'id', '43', 'local', vtep(h), 'dstport', PORT, 'nolearning');
      await x('ip', 'addr', 'add', `${KVX_DEV_ADDR(h)}/26`, 'dev', 'kvx1');
      await x('ip', 'link', 'set', 'kvx1', 'up');
      await x('bridge', 'fdb', 'append', '00:00:00:00:00:00', 'dev', 'kvx1', 'dst', vtep(peer));
    }
    // kvx1's MAC is the kernel's choice: learn the peer's and pin it, as for the namespace path.
    for (const h of [1, 2]) {
      const peerMac = JSON.parse(await this.lab.exec(3 - h, 'ip', '-j', 'link', 'show', 'kvx1'))[0].address as string;
      await this.lab.exec(h, 'bridge', 'fdb', 'replace', peerMac, 'dev', 'kvx1', 'dst', vtep(3 - h), 'self', 'permanent');
      await this.lab.exec(h, 'ip', 'neigh', 'replace', KVX_DEV_ADDR(3 - h), 'lladdr', peerMac, 'dev', 'kvx1', 'nud', 'permanent');
    }
  }

  async setMtu(mtu: number): Promise<void> {
    for (const h of [1, 2]) {
      for (const dev of ['kvx0', 'kbr0', 'kve0', 'kvx1']) await this.lab.exec(h, 'ip', 'link', 'set', dev, 'mtu', String(mtu));
      await ip('-n', this.containerNs(h), 'link', 'set', 'eth0', 'mtu', String(mtu));
    }
  }

  async tearDown(): Promise<void> {
    for (const h of [1, 2]) {
      for (const dev of ['kvx0', 'kvx1', 'kbr0']) await this.lab.exec(h, 'ip', 'link', 'del', dev).catch(() => undefined);
      await this.lab.exec(h, 'iptables', '-D', 'FORWARD', '-i', 'kbr0', '-o', 'kbr0', '-j', 'ACCEPT').catch(() => undefined);
      await ip('netns', 'del', this.containerNs(h)).catch(() => undefined);
    }
  }
}
