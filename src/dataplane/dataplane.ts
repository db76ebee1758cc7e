import { crashPoint } from '../lib/crash-point.js';
import { errorMessage, internal } from '../lib/errors.js';
import { Firewall } from './firewall.js';
import { bridgeMac, bridgeName, containerVethName, hostVethName, vniOfDevice, vxlanName } from './names.js';
import { BROADCAST_MAC, diffPeers, type PeerState } from './peers.js';
import { resolverRouteLine } from './resolver-host.js';
import type { Runner } from './runner.js';
import { TunnelRules } from './tunnel-rules.js';

export interface NetworkDevices {
  readonly vni: number;
  readonly mtu: number;
  /** Its VXLAN goes through the encrypted tunnel: the device uses the loopback-only port. */
  readonly encrypted?: boolean;
  /** The network's subnet: with a DNS responder, answers to it go out through the bridge. */
  readonly subnet?: string;
}

export interface VethSpec {
  readonly endpointId: string;
  readonly vni: number;
  readonly mac: string;
  readonly mtu: number;
}

interface LinkJson {
  ifname: string;
  mtu: number;
  address?: string;
  master?: string;
  operstate?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; port?: number; learning?: boolean; proxy?: boolean } };
}
interface FdbJson { mac: string; dst?: string; flags?: string[] }
interface NeighJson { dst: string; lladdr?: string; state?: string[] }

/**
 * The kernel side of ts-overlay on one host: ensure/delete verbs that are safe to repeat,
 * and peer programming by diff. It knows VNIs, MACs and addresses; nothing of Docker or etcd.
 */
export class Dataplane {
  private readonly firewall: Firewall;
  private readonly tunnelRules: TunnelRules | undefined;

  constructor(
    private readonly run: Runner,
    /** port: VXLAN on the underlay; innerPort: VXLAN of encrypted networks, loopback only (tunnel-rules.ts). */
    private readonly underlay: { readonly vtep: string; readonly port: number; readonly innerPort?: number },
    /** The DNS responder's address (resolver-host.ts), when the responder runs. */
    private readonly resolverAddr?: string,
  ) {
    this.firewall = new Firewall(run);
    this.tunnelRules = underlay.innerPort === undefined ? undefined : new TunnelRules(run, underlay.innerPort);
  }

  /** A bridge and a VXLAN device enslaved to it, both up, and the forward rule. */
  async ensureNetwork(net: NetworkDevices): Promise<void> {
    const br = bridgeName(net.vni);
    const vx = vxlanName(net.vni);
    // Only the two devices are read: listing every link (thousands of veths on a busy host)
    // made each CreateNetwork and reconcile pass cost more the more containers a host ran.
    const [vxlan, bridge] = await Promise.all([this.link(vx), this.link(br)]);
    const lines: string[] = [];
    const port = net.encrypted ? this.underlay.innerPort : this.underlay.port;
    if (port === undefined) throw internal('encrypted networks need the tunnel\'s loopback port (innerPort)');
    // Before the device exists: its VXLAN may only ever leave through the tunnel.
    if (net.encrypted) await this.tunnelRules!.ensureDrops();

    const vxlanMatches =
      vxlan?.linkinfo?.info_kind === 'vxlan' &&
      vxlan.linkinfo.info_data?.id === net.vni &&
      vxlan.linkinfo.info_data?.local === this.underlay.vtep &&
      vxlan.linkinfo.info_data?.port === port &&
      vxlan.linkinfo.info_data?.learning === false;
    if (vxlan && !vxlanMatches) lines.push(`link del ${vx}`);
    if (!vxlanMatches) {
      // nolearning: remote MACs come from the cluster, not from flooded traffic;
      // proxy: the device answers ARP from its neighbour table instead of flooding it.
      lines.push(`link add ${vx} mtu ${net.mtu} type vxlan id ${net.vni} local ${this.underlay.vtep} dstport ${port} nolearning proxy`);
    }
    const mac = bridgeMac(this.underlay.vtep, net.vni);
    if (bridge && bridge.linkinfo?.info_kind !== 'bridge') lines.push(`link del ${br}`);
    if (!bridge || bridge.linkinfo?.info_kind !== 'bridge') lines.push(`link add ${br} address ${mac} mtu ${net.mtu} type bridge`);
    else if (bridge.address !== mac) lines.push(`link set ${br} address ${mac}`);
    lines.push(`link set ${vx} mtu ${net.mtu} master ${br} up`, `link set ${br} mtu ${net.mtu} up`);
    if (this.resolverAddr && net.subnet) lines.push(resolverRouteLine(net.subnet, net.vni));
    await this.run.batch('ip', lines);
    if (net.encrypted) {
      // The tunnel reads this device's datagrams through a socket, where a checksum left to
      // the hardware is never filled in and a TSO super-frame is not cut: without transmit
      // checksum offload the kernel does both before encapsulating.
      await this.run.ethtool(['-K', vx, 'tx', 'off']);
    }
    crashPoint('create-network.links-made');
    await this.firewall.allowBridge(br);
  }

  /** Removes the network's devices (veths on the bridge go with their endpoints). Absent is fine. */
  async deleteNetwork(vni: number): Promise<void> {
    const present = await Promise.all([vxlanName(vni), bridgeName(vni)].map(async (n) => ((await this.link(n)) ? [n] : [])));
    const lines = present.flat().map((n) => `link del ${n}`);
    await this.run.batch('ip', lines);
    await this.firewall.forgetBridge(bridgeName(vni));
  }

  /**
   * The endpoint's veth pair: the host end on the network's bridge, the container end with
   * the endpoint's MAC, waiting for the engine to move it into the container.
   */
  async ensureVeth(spec: VethSpec): Promise<string> {
    const host = hostVethName(spec.endpointId);
    const peer = containerVethName(spec.endpointId);
    const create = [
      `link add ${host} mtu ${spec.mtu} type veth peer name ${peer} mtu ${spec.mtu} address ${spec.mac}`,
      `link set ${host} master ${bridgeName(spec.vni)} up`,
    ];
    // Hot path of every container start: two lines into the long-lived batch session. Only
    // when that fails (a pair from an earlier, interrupted try in the way) do we clean up and
    // try step by step, where a failure stops the rest.
    if ((await this.run.batchReport('ip', create)).size === 0) return peer;
    await this.deleteVeth(spec.endpointId);
    await this.run.batchStrict('ip', create).catch((err: unknown) => {
      throw internal(`could not create veth ${host}: ${errorMessage(err)}`, err);
    });
    return peer;
  }

  /**
   * Tells the bridge at once that the endpoint's MAC is behind its veth. When the address (and
   * so the MAC derived from it) lived on another host less than the bridge's ageing time (300 s)
   * ago, the bridge still has the MAC learned on the VXLAN port, and traffic to a container that
   * has not sent anything yet would be dropped there until it ages out.
   */
  async pinLocalMac(endpointId: string, mac: string): Promise<void> {
    // Through the bridge batch session: a process per Join was the cost the sessions removed.
    await this.run.batch('bridge', [`fdb replace ${mac} dev ${hostVethName(endpointId)} master static`]);
  }

  /** Removes the pair (deleting one end takes the other). Already gone is fine. */
  async deleteVeth(endpointId: string): Promise<void> {
    const host = hostVethName(endpointId);
    try {
      await this.run.ip(['link', 'del', host]);
    } catch (err) {
      if (!/Cannot find device/.test(errorMessage(err))) throw err;
    }
  }

  /** What the VXLAN device of `vni` knows about remote endpoints right now. */
  async readPeers(vni: number): Promise<PeerState> {
    const dev = vxlanName(vni);
    const [fdb, neigh] = await Promise.all([
      this.run.bridgeJson<FdbJson>(['fdb', 'show', 'dev', dev]),
      this.run.ipJson<NeighJson>(['neigh', 'show', 'dev', dev]),
    ]);
    const unicast = new Map<string, string>();
    const flood = new Set<string>();
    for (const e of fdb) {
      if (!e.dst) continue; // entries of the bridge itself, not of the VXLAN device
      if (e.mac === BROADCAST_MAC) flood.add(e.dst);
      else unicast.set(e.mac, e.dst);
    }
    const neighbours = new Map<string, string>();
    for (const n of neigh) {
      if (n.lladdr && n.state?.includes('PERMANENT')) neighbours.set(n.dst, n.lladdr);
    }
    return { unicast, flood, neighbours };
  }

  /**
   * Brings the device's peers to `desired`; returns how many entries changed. `known` is what
   * the caller last programmed: diffing against it spares reading thousands of entries back
   * from the kernel on every change. Without it, the kernel is read (and drift repaired).
   */
  async applyPeers(vni: number, desired: PeerState, known?: PeerState): Promise<number> {
    const actual = known ?? (await this.readPeers(vni));
    const changes = diffPeers(vxlanName(vni), actual, desired);
    await Promise.all([this.run.batch('bridge', changes.fdb), this.run.batch('ip', changes.neigh)]);
    return changes.count;
  }

  /**
   * The devices of ours that exist, found by their names: what a reconcile compares with
   * what should exist.
   */
  async ownDevices(): Promise<{ bridges: Set<number>; vxlans: Set<number>; hostVeths: Map<string, string | undefined> }> {
    const bridges = new Set<number>();
    const vxlans = new Set<number>();
    const hostVeths = new Map<string, string | undefined>(); // name -> master
    for (const l of await this.links()) {
      const vni = vniOfDevice(l.ifname);
      if (vni !== undefined && l.ifname.startsWith('tsbr-')) bridges.add(vni);
      else if (vni !== undefined) vxlans.add(vni);
      else if (l.ifname.startsWith('tsv-')) hostVeths.set(l.ifname, l.master);
    }
    return { bridges, vxlans, hostVeths };
  }

  /**
   * The VNIs whose bridge has a forward rule. A removal interrupted between deleting the devices
   * and the rule leaves a rule that no device listing shows: a reconcile looks here too.
   */
  async forwardRuleVnis(): Promise<Set<number>> {
    const vnis = new Set<number>();
    for (const bridge of await this.firewall.allowedBridges()) {
      const vni = vniOfDevice(bridge);
      if (vni !== undefined && bridge.startsWith('tsbr-')) vnis.add(vni);
    }
    return vnis;
  }

  /** Puts an endpoint's host end back on its bridge (the bridge was re-made). */
  async attachVeth(endpointId: string, vni: number): Promise<void> {
    await this.run.ip(['link', 'set', hostVethName(endpointId), 'master', bridgeName(vni), 'up']);
  }

  async deleteLink(name: string): Promise<void> {
    try {
      await this.run.ip(['link', 'del', name]);
    } catch (err) {
      if (!/Cannot find device/.test(errorMessage(err))) throw err;
    }
  }

  /**
   * Every link in the namespace, in one `ip` call. Without details (`-d`): names, masters and
   * MTUs are all a reconcile compares, and a host may have thousands of veths.
   */
  async links(): Promise<LinkJson[]> {
    try {
      return await this.run.ipJson<LinkJson>(['link', 'show']);
    } catch (err) {
      throw internal('could not list network interfaces', err);
    }
  }

  /** One link with its details (kind, VXLAN settings), or undefined when it does not exist. */
  async link(name: string): Promise<LinkJson | undefined> {
    try {
      return (await this.run.ipJson<LinkJson>(['-d', 'link', 'show', 'dev', name]))[0];
    } catch (err) {
      if (/does not exist/.test(errorMessage(err))) return undefined;
      throw internal(`could not read network interface ${name}`, err);
    }
  }
}
