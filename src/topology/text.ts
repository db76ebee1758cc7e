import { endpointsOf, hostsOf, networksOn, type Topology, type TopologyNetwork, type TopologyNode } from './model.js';

interface TreeItem {
  readonly line: string;
  readonly children: readonly TreeItem[];
}

/**
 * An indented tree: each host with its VTEP, the networks it holds and its endpoints on each;
 * then every network with the hosts it spans.
 */
export function renderText(t: Topology): string {
  const hosts: TreeItem[] = t.nodes.map((node) => ({
    line: nodeLine(node),
    children: networksOn(t, node.name).map((net) => {
      const eps = endpointsOf(t, node.name, net.id);
      return {
        line: networkLine(net),
        children: eps.length ? eps.map((e) => ({ line: `${e.ip.padEnd(15)}  ${e.mac}  endpoint ${e.id.slice(0, 12)}`, children: [] })) : [{ line: '(no endpoints)', children: [] }],
      };
    }),
  }));
  const networks: TreeItem[] = t.networks.map((net) => {
    const on = hostsOf(t, net);
    return { line: `${networkLine(net)}  on ${on.length ? on.join(', ') : 'no host'}`, children: [] };
  });
  const out = [
    `ts-overlay topology: ${count(t.nodes.length, 'node')}, ${count(t.networks.length, 'network')}, ${count(t.endpoints.length, 'endpoint')}`,
    '',
    'hosts',
    ...tree(hosts),
    '',
    'networks',
    ...tree(networks),
  ];
  return `${out.join('\n')}\n`;
}

function tree(items: readonly TreeItem[], indent = ''): string[] {
  return items.flatMap((item, i) => {
    const last = i === items.length - 1;
    return [`${indent}${last ? '└── ' : '├── '}${item.line}`, ...tree(item.children, `${indent}${last ? '    ' : '│   '}`)];
  });
}

const nodeLine = (n: TopologyNode) => `${n.name}  ${n.alive ? 'alive' : 'DEAD'}  VTEP ${n.vtep ?? 'unknown'}`;
const networkLine = (n: TopologyNetwork) => `${n.name}  ${n.subnet}  VNI ${n.vni}`;
export const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
