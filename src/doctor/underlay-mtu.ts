import type { Runner } from '../dataplane/runner.js';
import { VXLAN_OVERHEAD } from '../dataplane/host-info.js';
import { vniOfDevice, vxlanName } from '../dataplane/names.js';
import { TUNNEL_OVERHEAD } from '../dataplane/tunnel-packet.js';
import { type CheckResult, fail, pass } from './check.js';

const NAME = 'underlay MTU';

export interface NetworkMtu {
  readonly name: string;
  readonly vni: number;
  /** -o mtu given at creation; undefined: the underlay's MTU - 50 of the host that made it. */
  readonly mtu?: number;
  /** -o encrypted: its frames also carry the tunnel's header and tag. */
  readonly encrypted?: boolean;
}

export interface MtuNeed {
  readonly network: string;
  readonly vni: number;
  readonly mtu: number;
  /** Bytes an encrypted network's tunnel adds on top of VXLAN's. */
  readonly tunnel?: number;
}

/** The underlay packet a full-size frame of the network becomes. */
const packetSize = (n: MtuNeed) => n.mtu + VXLAN_OVERHEAD + (n.tunnel ?? 0);

/**
 * The MTU each network's containers use here: the larger of its -o mtu and its VXLAN
 * device's MTU on this host (made before the underlay changed, or on another host's default).
 * A network with neither gets this host's default when it arrives, which always fits.
 */
export function networkMtus(networks: readonly NetworkMtu[], deviceMtu: ReadonlyMap<string, number>): MtuNeed[] {
  const needs: MtuNeed[] = [];
  for (const net of networks) {
    const sizes = [net.mtu, deviceMtu.get(vxlanName(net.vni))].filter((m): m is number => m !== undefined);
    if (sizes.length) needs.push({ network: net.name, vni: net.vni, mtu: Math.max(...sizes), ...(net.encrypted ? { tunnel: TUNNEL_OVERHEAD } : {}) });
  }
  return needs;
}

interface AddrJson { ifname: string; mtu: number; addr_info: Array<{ local: string }> }

/** A VXLAN packet is the container's frame plus 50 bytes: the underlay must carry that. */
export async function checkUnderlayMtu(run: Runner, vtep: string, clusterNetworks: readonly NetworkMtu[] | undefined): Promise<CheckResult> {
  const links = await run.ipJson<AddrJson>(['-4', 'addr', 'show']);
  const underlay = links.find((l) => l.addr_info.some((a) => a.local === vtep));
  if (!underlay) {
    return fail(NAME, `no interface here holds the advertise address ${vtep}`, 'give --advertise-addr an address of this host (ip -4 addr shows them)');
  }
  const deviceMtu = new Map((await run.ipJson<{ ifname: string; mtu: number }>(['link', 'show'])).map((l) => [l.ifname, l.mtu]));
  // Without etcd, this host's own VXLAN devices still tell what its containers use.
  const networks = clusterNetworks ?? [...deviceMtu.keys()].filter((d) => d.startsWith('tsvx-')).map((d) => ({ name: d, vni: vniOfDevice(d)! }));
  const needs = networkMtus(networks, deviceMtu);
  const tooBig = needs.filter((n) => packetSize(n) > underlay.mtu);
  const where = `${underlay.ifname} (${vtep}) has MTU ${underlay.mtu}`;
  if (tooBig.length === 0) {
    return pass(NAME, needs.length
      ? `${where}; the largest network MTU here is ${Math.max(...needs.map((n) => n.mtu))}, + ${VXLAN_OVERHEAD} fits`
      : `${where}; new networks get ${underlay.mtu - VXLAN_OVERHEAD}`);
  }
  const need = Math.max(...tooBig.map(packetSize));
  const list = tooBig.map((n) => `${n.network} (VNI ${n.vni}) uses MTU ${n.mtu}${n.tunnel ? ' (encrypted)' : ''}`).join(', ');
  return fail(
    NAME,
    `${where}, but ${list}: VXLAN packets of full-size frames would be ${need} bytes and get dropped`,
    `raise the underlay MTU (ip link set dev ${underlay.ifname} mtu ${need}) or recreate the network with -o mtu=${underlay.mtu - VXLAN_OVERHEAD - Math.max(...tooBig.map((n) => n.tunnel ?? 0))}`,
  );
}
