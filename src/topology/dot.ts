import { endpointsOf, hostsOf, networksOn, type Topology } from './model.js';
import { count } from './text.js';
import { colorOf } from './palette.js';

/**
 * A Graphviz graph (`ts-overlay topology --format dot | dot -Tpng > overlay.png`): each host a
 * cluster holding its VTEP and its endpoints, each network an ellipse; endpoints attach to
 * their network, and a dashed edge from a VTEP to a network is that host's VXLAN tunnel end.
 */
export function renderDot(t: Topology): string {
  const lines = [
    'graph "ts-overlay" {',
    `  graph [label=${q(`ts-overlay: ${count(t.nodes.length, 'node')}, ${count(t.networks.length, 'network')}, ${count(t.endpoints.length, 'endpoint')}`)}, labelloc=t, fontname="Helvetica", rankdir=TB];`,
    '  node [fontname="Helvetica", fontsize=10];',
    '  edge [fontname="Helvetica", fontsize=9];',
  ];
  for (const node of t.nodes) {
    lines.push(`  subgraph ${q(`cluster_node_${node.name}`)} {`);
    lines.push(`    label=${q(`${node.name}${node.alive ? '' : ' (dead)'}`)}; style=${node.alive ? 'rounded' : '"rounded,dashed"'};`);
    lines.push(`    ${q(`vtep:${node.name}`)} [shape=box, label=${q(`VTEP ${node.vtep ?? 'unknown'}`)}];`);
    for (const net of networksOn(t, node.name)) {
      for (const e of endpointsOf(t, node.name, net.id)) {
        lines.push(`    ${q(`endpoint:${e.id}`)} [shape=box, style=rounded, label=${q(`${e.ip}\n${e.mac}\n${e.id.slice(0, 12)}`)}];`);
      }
    }
    lines.push('  }');
  }
  t.networks.forEach((net, i) => {
    lines.push(`  ${q(`network:${net.id}`)} [shape=ellipse, style=filled, fillcolor=${q(colorOf(i, 'light'))}, color=${q(colorOf(i))}, label=${q(`${net.name}\n${net.subnet}\nVNI ${net.vni}`)}];`);
  });
  t.networks.forEach((net, i) => {
    for (const host of hostsOf(t, net)) {
      lines.push(`  ${q(`vtep:${host}`)} -- ${q(`network:${net.id}`)} [style=dashed, color=${q(colorOf(i))}];`);
    }
  });
  for (const e of t.endpoints) lines.push(`  ${q(`endpoint:${e.id}`)} -- ${q(`network:${e.network}`)};`);
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** A DOT quoted string: quotes and backslashes escaped, line breaks as DOT's centred \n. */
export function q(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}
