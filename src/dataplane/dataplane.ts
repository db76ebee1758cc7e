import { crashPoint } from '../lib/crash-point.js';
import { errorMessage, internal } from '../lib/errors.js';
import { noMetrics, type SparePortObserver } from '../metrics/ports.js';
import { HostPortGuard } from './host-port-guard.js';
import { removeLegacyForwardChain } from './legacy-forward-chain.js';
import { endpointPortName, hostPortMac, hostPortName, isLegacyDevice, isSparePortName, vniOfDevice, vxlanName } from './names.js';
import { BROADCAST_MAC, diffDelta, diffPeers, type MutablePeerState, patchPeerState, type PeerChanges, type PeerDelta, type PeerState } from './peers.js';
import { resolverRouteLine } from './resolver-host.js';
import type { Runner } from './runner.js';
import { type SparePortOptions, SparePorts } from './spare-ports.js';
import { TunnelRules } from './tunnel-rules.js';

export interface NetworkDevices {
  readonly vni: number;
  readonly mtu: number;
  /** Its VXLAN goes through the encrypted tunnel: the device uses the loopback-only port. */
  readonly encrypted?: boolean;
  /** The network's subnet: with a DNS responder, answers to it go out through the host port. */
  readonly subnet?: string;
}

export interface PortSpec {
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
  /** The lower device of a macvlan. */
  link?: string;
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; port?: number; learning?: boolean; proxy?: boolean; mode?: string } };
}
export interface OwnDevices {
  readonly hostPorts: Set<number>;
  readonly vxlans: Set<number>;
  /** Endpoint interfaces in the host's namespace, by name (spare ones included). */
  readonly endpointPorts: Set<string>;
  /** Devices of earlier builds (names.ts isLegacyDevice). */
  readonly legacy: string[];
}
/** What one reconcile pass read of the kernel once for all its networks (Dataplane.passView). */
export interface PassView {
  /** Our VXLAN devices and host ports with their details, by name, as listed when the pass began. */
  readonly links: ReadonlyMap<string, LinkJson>;
  /** The host-port guard was checked in this pass already. */
  guardChecked: boolean;
}
/** Remote endpoints in a VXLAN device's FDB and neighbour entries as the tools list them. */
function peerStateOf(fdb: readonly FdbJson[], neigh: readonly NeighJson[]): PeerState {
  const unicast = new Map<string, string>();
  const flood = new Set<string>();
  for (const e of fdb) {
    if (!e.dst) continue; // the device's own addresses (its macvlans' MACs, multicast), not remote ones
    if (e.mac === BROADCAST_MAC) flood.add(e.dst);
    else unicast.set(e.mac, e.dst);
  }
  const neighbours = new Map<string, string>();
  for (const n of neigh) {
    if (n.lladdr && n.state?.includes('PERMANENT')) neighbours.set(n.dst, n.lladdr);
  }
  return { unicast, flood, neighbours };
}
/** A macvlan in bridge mode on the device named `lower`. */
const macvlanOn = (lower: string, l: LinkJson | undefined) => l?.linkinfo?.info_kind === 'macvlan' && l.linkinfo.info_data?.mode === 'bridge' && l.link === lower;
interface FdbJson { mac: string; dst?: string; flags?: string[] }
interface NeighJson { dst: string; lladdr?: string; state?: string[] }

/**
 * The kernel side of ts-overlay on one host: ensure/delete verbs that are safe to repeat,
 * and peer programming by diff. It knows VNIs, MACs and addresses; nothing of Docker or etcd.
 *
 * Per network, one VXLAN device; every interface on the network is a macvlan (mode bridge) on
 * it: each container's, and the host's own port (for the DNS responder). The macvlan driver
 * switches frames between them by destination MAC and hands the rest to the VXLAN device, whose
 * static FDB and neighbour entries name the remote hosts. There is no Linux bridge: a bridge in
 * the host's namespace passes every frame it forwards to the host's iptables (the engine turns
 * on bridge-nf-call-iptables), which cost about a tenth of the throughput (bench/firewall-cost.ts),
 * and needed a FORWARD rule per network. Networks stay apart because each has its own VXLAN
 * device, and nothing arriving on a host port is routed on (host-port-guard.ts).
 */
export class Dataplane {
  private readonly hostPortGuard: HostPortGuard;
  private readonly tunnelRules: TunnelRules | undefined;
  private readonly spares: SparePorts;
  /**
   * Endpoints whose own interface (`tsc-`) ensurePort made, until they are deleted: a Join tried
   * again for one of them must not take a spare, which would leave the first interface behind
   * with no endpoint to delete it by.
   */
  private readonly ownPorts = new Set<string>();

  constructor(
    private readonly run: Runner,
    /** port: VXLAN on the underlay; innerPort: VXLAN of encrypted networks, loopback only (tunnel-rules.ts). */
    private readonly underlay: { readonly vtep: string; readonly port: number; readonly innerPort?: number },
    /** The DNS responder's address (resolver-host.ts), when the responder runs. */
    private readonly resolverAddr?: string,
    /** Interfaces made ahead of Joins under load (spare-ports.ts); none unless given. */
    spares: SparePortOptions = { max: 0, joinsPerSpare: 1, idleMs: 0 },
    metrics: SparePortObserver = noMetrics,
  ) {
    this.spares = new SparePorts(run, spares, metrics);
    this.hostPortGuard = new HostPortGuard(run);
    this.tunnelRules = underlay.innerPort === undefined ? undefined : new TunnelRules(run, underlay.innerPort);
  }

  /**
   * The VXLAN device and the host port on it, both up; nothing arriving on the host port is
   * routed on. Returns whether the VXLAN device was made (it was missing or wrong): the
   * endpoints' interfaces on an earlier one went with it. Given a reconcile pass's view
   * (passView), a network whose devices it lists as they should be costs no reading of them.
   */
  async ensureNetwork(net: NetworkDevices, view?: PassView): Promise<boolean> {
    if (view && !net.encrypted && (await this.refreshListed(net, view))) return false;
    const hp = hostPortName(net.vni);
    const vx = vxlanName(net.vni);
    // Only the two devices are read: listing every link (thousands of ports on a busy host)
    // made each CreateNetwork and reconcile pass cost more the more containers a host ran.
    const [vxlan, hostPort] = await Promise.all([this.link(vx), this.link(hp)]);
    const lines: string[] = [];
    const port = net.encrypted ? this.underlay.innerPort : this.underlay.port;
    if (port === undefined) throw internal('encrypted networks need the tunnel\'s loopback port (innerPort)');
    // Before the device exists: its VXLAN may only ever leave through the tunnel.
    if (net.encrypted) await this.tunnelRules!.ensureDrops();

    const vxlanMatches = this.vxlanMatches(net, vxlan);
    const mac = hostPortMac(this.underlay.vtep, net.vni);
    const hostPortMatches = vxlanMatches && macvlanOn(vx, hostPort);
    // Drift only. Each in a process of its own: the batch session knows devices by the index
    // it first saw, and a delete it ran could miss a device someone made again under the name.
    // Deleting the VXLAN device takes every macvlan on it, a host port on it too.
    const vxlanGoes = vxlan !== undefined && !vxlanMatches;
    if (hostPort && !hostPortMatches && !(vxlanGoes && hostPort.link === vx)) await this.deleteLink(hp);
    if (!vxlanMatches) this.spares.forget(net.vni); // any on the earlier device go with it: none handed out meanwhile
    if (vxlanGoes) await this.deleteLink(vx);
    if (!vxlanMatches) {
      // nolearning: remote MACs come from the cluster, not from flooded traffic;
      // proxy: the device answers ARP from its neighbour table instead of flooding it.
      lines.push(`link add ${vx} mtu ${net.mtu} type vxlan id ${net.vni} local ${this.underlay.vtep} dstport ${port} nolearning proxy`);
    }
    // A port of the bridge of earlier builds takes no macvlan.
    if (vxlanMatches && vxlan!.master) lines.push(`link set ${vx} nomaster`);
    if (!hostPortMatches) lines.push(`link add ${hp} link ${vx} address ${mac} mtu ${net.mtu} type macvlan mode bridge`);
    else if (hostPort!.address !== mac) lines.push(`link set ${hp} address ${mac}`);
    lines.push(...this.upLines(net));
    await this.run.batch('ip', lines);
    if (net.encrypted) {
      // The tunnel reads this device's datagrams through a socket, where a checksum left to
      // the hardware is never filled in and a TSO super-frame is not cut: without transmit
      // checksum offload the kernel does both before encapsulating.
      await this.run.ethtool(['-K', vx, 'tx', 'off']);
    }
    crashPoint('create-network.links-made');
    await this.ensureGuard(view);
    return !vxlanMatches;
  }

  /**
   * Our VXLAN devices and host ports with their details, in two listings (by kind, so the
   * kernel leaves out every other interface of the host): what a reconcile pass compares all
   * its networks with, instead of reading two devices and the firewall per network.
   */
  async passView(): Promise<PassView> {
    const [vxlans, macvlans] = await Promise.all([this.run.ipJson<LinkJson>(['-d', 'link', 'show', 'type', 'vxlan']), this.run.ipJson<LinkJson>(['-d', 'link', 'show', 'type', 'macvlan'])]);
    const ours = [...vxlans, ...macvlans].filter((l) => vniOfDevice(l.ifname) !== undefined);
    return { links: new Map(ours.map((l) => [l.ifname, l])), guardChecked: false };
  }

  /**
   * When the pass's view lists both devices as they should be, brings them up to date with the
   * lines that are harmless when they already are; false (nothing done that matters) when the
   * view says otherwise or a line failed: the devices changed since, and are read again.
   */
  private async refreshListed(net: NetworkDevices, view: PassView): Promise<boolean> {
    const vx = vxlanName(net.vni);
    const vxlan = view.links.get(vx);
    const hostPort = view.links.get(hostPortName(net.vni));
    const asTheyShouldBe = this.vxlanMatches(net, vxlan) && !vxlan!.master && macvlanOn(vx, hostPort) && hostPort!.address === hostPortMac(this.underlay.vtep, net.vni);
    if (!asTheyShouldBe || (await this.run.batchReport('ip', this.upLines(net))).size > 0) return false;
    await this.ensureGuard(view);
    return true;
  }

  private vxlanMatches(net: NetworkDevices, vxlan: LinkJson | undefined): boolean {
    const info = vxlan?.linkinfo;
    const port = net.encrypted ? this.underlay.innerPort : this.underlay.port;
    return info?.info_kind === 'vxlan' && info.info_data?.id === net.vni && info.info_data?.local === this.underlay.vtep && info.info_data?.port === port && info.info_data?.learning === false;
  }

  /** Both devices up at the network's MTU, and the responder's route: safe to repeat. */
  private upLines(net: NetworkDevices): string[] {
    const lines = [`link set ${vxlanName(net.vni)} mtu ${net.mtu} up`, `link set ${hostPortName(net.vni)} mtu ${net.mtu} up`];
    if (this.resolverAddr && net.subnet) lines.push(resolverRouteLine(net.subnet, net.vni));
    return lines;
  }

  /** A container that sends the host port a packet for somewhere else must not find a router: checked once per pass. */
  private async ensureGuard(view: PassView | undefined): Promise<void> {
    if (view?.guardChecked) return;
    await this.hostPortGuard.ensure();
    if (view) view.guardChecked = true;
  }

  /** Removes the network's devices (with the VXLAN device go all macvlans on it). Absent is fine. */
  async deleteNetwork(vni: number): Promise<void> {
    // The host port first: deleting the VXLAN device takes it, and its line would then fail.
    const present = await Promise.all([hostPortName(vni), vxlanName(vni)].map(async (n) => ((await this.link(n)) ? [n] : [])));
    const lines = present.flat().map((n) => `link del ${n}`);
    this.spares.forget(vni);
    await this.run.batch('ip', lines);
  }

  /** Removes the forward chain of earlier builds (their bridges needed it); returns whether there was one. */
  removeLegacyForwardChain(): Promise<boolean> {
    return removeLegacyForwardChain(this.run);
  }

  /**
   * The endpoint's interface: a macvlan on the network's VXLAN device, down, waiting for the
   * engine to move it into the container (and bring it up there). Made with the endpoint's MAC,
   * or a spare made earlier, which the engine gives that MAC.
   */
  async ensurePort(spec: PortSpec): Promise<string> {
    const given = this.spares.handedTo(spec.endpointId);
    if (given) {
      // A Join tried again: the same answer while that interface is still here (a harmless
      // change that fails on a missing device tells), else the endpoint's own, made now.
      if ((await this.run.batchReport('ip', [`link set ${given} mtu ${spec.mtu}`])).size === 0) return given;
      this.spares.letGo(spec.endpointId);
    } else if (!this.ownPorts.has(spec.endpointId)) {
      // Under load a spare is ready: no round trip to `ip` at all. The engine gives it the
      // endpoint's MAC when it moves it into the container (spare-ports.ts).
      const spare = this.spares.take(spec.endpointId, spec.vni, spec.mtu);
      if (spare) return spare;
    }
    const name = endpointPortName(spec.endpointId);
    const create = [`link add ${name} link ${vxlanName(spec.vni)} mtu ${spec.mtu} address ${spec.mac} type macvlan mode bridge`];
    this.ownPorts.add(spec.endpointId); // from the attempt on: one that fails half-way may have made it
    // Hot path of every container start: one line into the long-lived batch session. Only
    // when that fails (a port from an earlier, interrupted try in the way) do we clean up and
    // try again.
    if ((await this.run.batchReport('ip', create)).size === 0) return name;
    await this.deletePort(spec.endpointId);
    await this.run.batchStrict('ip', create).catch((err: unknown) => {
      throw internal(`could not create interface ${name}: ${errorMessage(err)}`, err);
    });
    return name;
  }

  /**
   * Removes the endpoint's interface when it is in the host's namespace (not made into a
   * container yet, or given back by the engine). Already gone is fine: inside a container it
   * goes with the container's namespace.
   */
  async deletePort(endpointId: string): Promise<void> {
    const name = this.portName(endpointId);
    const failed = (await this.run.deleteLinks([name])).get(name);
    if (failed !== undefined) throw internal(`could not delete interface ${name}: ${failed}`);
  }

  /**
   * The endpoint is deleted (its interface with it). Until then a spare it was given keeps its
   * name: the engine brings the interface back under it after Leave, for DeleteEndpoint.
   */
  endpointGone(endpointId: string): void {
    this.spares.letGo(endpointId);
    this.ownPorts.delete(endpointId);
  }

  /** The name of the endpoint's interface while it is in the host's namespace. */
  portName(endpointId: string): string {
    return this.spares.handedTo(endpointId) ?? endpointPortName(endpointId);
  }

  /** A spare interface of this process: ready, being made, or an endpoint's (not a leftover). */
  ownsSpare(name: string): boolean {
    return this.spares.owns(name);
  }

  /** The kernel reports the link deleted (KernelMonitor): a spare of that name is gone. */
  linkDeleted(name: string): void {
    if (isSparePortName(name)) this.spares.gone(name);
  }

  /** Deletes the spare interfaces (the plugin stops). */
  closeSpares(): Promise<void> {
    return this.spares.close();
  }

  /** What the VXLAN device of `vni` knows about remote endpoints right now. */
  async readPeers(vni: number): Promise<PeerState> {
    const dev = vxlanName(vni);
    const [fdb, neigh] = await Promise.all([
      this.run.bridgeJson<FdbJson>(['fdb', 'show', 'dev', dev]),
      this.run.ipJson<NeighJson>(['neigh', 'show', 'dev', dev]),
    ]);
    return peerStateOf(fdb, neigh);
  }

  /**
   * What every VXLAN device of ours knows about remote endpoints, by VNI (a device with no
   * entries is left out), from two listings of the whole namespace: verifying many networks
   * at once (a reconcile pass) then costs two processes rather than two per network.
   */
  async readAllPeers(): Promise<Map<number, PeerState>> {
    // An interrupted dump fails this: the caller reads each device instead.
    const [fdb, neigh] = await Promise.all([
      this.run.wholeDumpJson<FdbJson & { ifname?: string }>('bridge', ['fdb', 'show']),
      this.run.wholeDumpJson<NeighJson & { dev?: string }>('ip', ['neigh', 'show', 'nud', 'permanent']),
    ]);
    const vniOfVxlan = (dev: string | undefined) => {
      const vni = dev === undefined ? undefined : vniOfDevice(dev);
      return vni !== undefined && dev === vxlanName(vni) ? vni : undefined;
    };
    const byVni = new Map<number, { fdb: FdbJson[]; neigh: NeighJson[] }>();
    const of = (vni: number) => byVni.get(vni) ?? byVni.set(vni, { fdb: [], neigh: [] }).get(vni)!;
    for (const e of fdb) {
      const vni = vniOfVxlan(e.ifname);
      if (vni !== undefined) of(vni).fdb.push(e);
    }
    for (const n of neigh) {
      const vni = vniOfVxlan(n.dev);
      if (vni !== undefined) of(vni).neigh.push(n);
    }
    return new Map([...byVni].map(([vni, listed]) => [vni, peerStateOf(listed.fdb, listed.neigh)]));
  }

  /**
   * Brings the device's peers to `desired`, against what the kernel holds now (drift is
   * repaired), read now or given (`current`, from readAllPeers); returns how many entries changed.
   */
  async applyPeers(vni: number, desired: PeerState, current?: PeerState): Promise<number> {
    return this.runPeerChanges(diffPeers(vxlanName(vni), current ?? (await this.readPeers(vni)), desired));
  }

  /**
   * Brings just the entries `delta` names to what it says, from `known` (what was last
   * programmed: no reading thousands of entries back from the kernel on every change), which
   * is then updated to match; returns how many entries changed.
   */
  async applyPeerDelta(vni: number, delta: PeerDelta, known: MutablePeerState): Promise<number> {
    const count = await this.runPeerChanges(diffDelta(vxlanName(vni), known, delta));
    patchPeerState(known, delta);
    return count;
  }

  private async runPeerChanges(changes: PeerChanges): Promise<number> {
    await Promise.all([this.run.batch('bridge', changes.fdb), this.run.batch('ip', changes.neigh)]);
    return changes.count;
  }

  /**
   * The devices of ours that exist, found by their names: what a reconcile compares with
   * what should exist. Endpoint ports show only while they are in the host's namespace.
   */
  async ownDevices(): Promise<OwnDevices> {
    const own: OwnDevices = { hostPorts: new Set(), vxlans: new Set(), endpointPorts: new Set(), legacy: [] };
    const listedAt = performance.now();
    const links = await this.links();
    this.spares.checkAgainst(new Set(links.map((l) => l.ifname)), listedAt);
    for (const l of links) {
      const vni = vniOfDevice(l.ifname);
      if (vni !== undefined && l.ifname === hostPortName(vni)) own.hostPorts.add(vni);
      else if (vni !== undefined) own.vxlans.add(vni);
      else if (l.ifname.startsWith('tsc-') || isSparePortName(l.ifname)) own.endpointPorts.add(l.ifname);
      else if (isLegacyDevice(l.ifname)) own.legacy.push(l.ifname);
    }
    return own;
  }

  /** Deletes the link; false when it was not there (gone already is fine). */
  async deleteLink(name: string): Promise<boolean> {
    try {
      await this.run.ip(['link', 'del', name]);
      return true;
    } catch (err) {
      if (!/Cannot find device/.test(errorMessage(err))) throw err;
      return false;
    }
  }

  /**
   * Every link in the namespace, in one `ip` call. Without details (`-d`): names are all a
   * reconcile compares, and a host may have thousands of ports.
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
