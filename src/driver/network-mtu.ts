import { VXLAN_OVERHEAD } from '../dataplane/host-info.js';

/** What a node tells the cluster about its underlay (NodeRecord.underlayMtu; absent on old nodes). */
export interface NodeUnderlay {
  readonly name: string;
  readonly underlayMtu?: number;
}

export interface MtuChoice {
  readonly mtu: number;
  /** Where the figure came from, for the log and for a user wondering why it is not larger. */
  readonly reason: string;
}

/**
 * The MTU of a new network's interfaces on every host. One figure for the whole network: a
 * container sends frames as large as its own MTU, and a host whose underlay cannot carry them
 * plus VXLAN's 50 bytes drops them silently. So `-o mtu` if given (the user knows best), else
 * the smallest underlay among the live nodes (ours included) minus the overhead. Nodes that join
 * later with a smaller underlay are reported by `ts-overlay doctor` on that host.
 */
export function chooseNetworkMtu(option: number | undefined, self: { readonly name: string; readonly underlayMtu: number }, nodes: readonly NodeUnderlay[]): MtuChoice {
  if (option !== undefined) return { mtu: option, reason: '-o mtu' };
  let smallest = { name: self.name, underlayMtu: self.underlayMtu };
  for (const node of nodes) {
    if (node.underlayMtu !== undefined && node.underlayMtu < smallest.underlayMtu) smallest = { name: node.name, underlayMtu: node.underlayMtu };
  }
  const mtu = smallest.underlayMtu - VXLAN_OVERHEAD;
  return { mtu, reason: `underlay MTU ${smallest.underlayMtu} of ${smallest.name === self.name ? 'this host' : `node ${smallest.name}`} - ${VXLAN_OVERHEAD}` };
}

/** True when this host's underlay cannot carry the network's full-size frames. */
export const tooLargeForUnderlay = (networkMtu: number, underlayMtu: number): boolean => networkMtu + VXLAN_OVERHEAD > underlayMtu;
