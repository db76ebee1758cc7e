import { endpointLabel, endpointsOf, hostsOf, networksOn, type Topology, type TopologyNode } from './model.js';
import { colorOf } from './palette.js';
import { count } from './text.js';

/**
 * A self-made SVG drawing, no Graphviz needed: hosts side by side as boxes (name, VTEP, and per
 * network a box of its endpoints), and below them one horizontal line per network, like a
 * shared Ethernet segment, with a tie down from every host the network spans. Colours pair
 * each network's boxes with its line.
 */
const CHAR_W = 7.2; // monospace 12 px
const LINE_H = 16;
const PAD = 10;
const GAP = 30;
const MARGIN = 20;
const TITLE_H = 30;
const BUS_GAP = 36;
const MIN_COL_W = 200;

interface Column {
  readonly node: TopologyNode;
  readonly x: number;
  readonly width: number;
}

export function renderSvg(t: Topology): string {
  const out: string[] = [];
  const textWidth = (s: string) => s.length * CHAR_W;
  const netIndex = new Map(t.networks.map((net, i) => [net.id, i]));

  // Columns wide enough for their longest line.
  let x = MARGIN;
  const columns: Column[] = t.nodes.map((node) => {
    const lines = [node.name, vtepLine(node), ...networksOn(t, node.name).flatMap((net) => [netTitle(net), ...endpointsOf(t, node.name, net.id).map(endpointLabel)])];
    const width = Math.max(MIN_COL_W, Math.ceil(Math.max(...lines.map(textWidth)) + 4 * PAD));
    const col = { node, x, width };
    x += width + GAP;
    return col;
  });

  // Host boxes: title lines, then one box per network with its endpoints (or "no endpoints").
  const top = MARGIN + TITLE_H;
  const hostHeight = (node: TopologyNode) =>
    PAD + 2 * LINE_H + networksOn(t, node.name).reduce((h, net) => h + PAD + LINE_H * (1 + Math.max(1, endpointsOf(t, node.name, net.id).length)) + PAD, 0) + PAD;
  const hostsBottom = top + Math.max(2 * LINE_H + 2 * PAD, ...t.nodes.map(hostHeight));
  for (const col of columns) {
    const { node } = col;
    out.push(`<g class="node" data-name="${xml(node.name)}">`);
    out.push(`<title>${xml(`${node.name}: ${node.alive ? 'alive' : 'dead (no lease in etcd)'}, VTEP ${node.vtep ?? 'unknown'}`)}</title>`);
    out.push(rect(col.x, top, col.width, hostsBottom - top, node.alive ? '#f7f7f7' : '#fbeaea', '#555', node.alive ? undefined : '6 4'));
    out.push(text(col.x + PAD, top + PAD + 12, node.name, 'font-weight="bold"'));
    out.push(text(col.x + PAD, top + PAD + 12 + LINE_H, vtepLine(node), 'fill="#444"'));
    let y = top + PAD + 2 * LINE_H + PAD;
    for (const net of networksOn(t, node.name)) {
      const i = netIndex.get(net.id)!;
      const eps = endpointsOf(t, node.name, net.id);
      const h = LINE_H * (1 + Math.max(1, eps.length)) + PAD;
      out.push(`<g class="network-on-node" data-network="${xml(net.name)}">`);
      out.push(rect(col.x + PAD, y, col.width - 2 * PAD, h, colorOf(i, 'light'), colorOf(i)));
      out.push(text(col.x + 2 * PAD, y + 14, netTitle(net), `fill="${colorOf(i)}" font-weight="bold"`));
      eps.forEach((e, k) => {
        out.push(`<g class="endpoint" data-id="${xml(e.id)}"><title>${xml(`endpoint ${e.id}\n${e.ip} ${e.mac}`)}</title>`);
        out.push(text(col.x + 2 * PAD, y + 14 + LINE_H * (k + 1), endpointLabel(e)));
        out.push('</g>');
      });
      if (eps.length === 0) out.push(text(col.x + 2 * PAD, y + 14 + LINE_H, '(no endpoints)', 'fill="#888"'));
      out.push('</g>');
      y += h + PAD;
    }
    out.push('</g>');
  }

  // One line per network below the hosts, tied to every host it spans. Each host's ties sit
  // together at its left edge; labels start right of them, so no tie runs through a label.
  const busTop = hostsBottom + 2 * BUS_GAP;
  const span = t.networks.length;
  const tieStep = (col: Column) => Math.min(14, (col.width - 4 * PAD) / Math.max(1, span));
  const tieX = (col: Column, i: number) => col.x + 2 * PAD + i * tieStep(col);
  const labelX = (col: Column | undefined) => (col ? tieX(col, span - 1) + 2 * PAD : MARGIN);
  let right = 0;
  // Networks on no host last: later lines' ties cross the labels of earlier ones, theirs have none.
  const onNoHost = (net: (typeof t.networks)[number]) => (hostsOf(t, net).length === 0 ? 1 : 0);
  const order = t.networks.map((net, i) => ({ net, i })).sort((a, b) => onNoHost(a.net) - onNoHost(b.net));
  order.forEach(({ net, i }, row) => {
    const busY = busTop + row * BUS_GAP;
    const cols = columns.filter((c) => hostsOf(t, net).includes(c.node.name));
    const label = `${netTitle(net)}${cols.length ? '' : '  (on no host)'}`;
    const lx = labelX(cols[0] ?? columns[0]);
    const x1 = cols.length ? tieX(cols[0]!, i) : lx;
    const x2 = Math.max(lx + textWidth(label), ...cols.map((c) => tieX(c, i)));
    right = Math.max(right, x2);
    out.push(`<g class="network" data-name="${xml(net.name)}" data-vni="${net.vni}">`);
    out.push(`<title>${xml(`${net.name}: ${net.subnet}, VNI ${net.vni}, on ${cols.map((c) => c.node.name).join(', ') || 'no host'}`)}</title>`);
    for (const col of cols) {
      out.push(`<line x1="${n(tieX(col, i))}" y1="${n(hostsBottom)}" x2="${n(tieX(col, i))}" y2="${n(busY)}" stroke="${colorOf(i)}" stroke-width="2"/>`);
      out.push(`<circle cx="${n(tieX(col, i))}" cy="${n(busY)}" r="4" fill="${colorOf(i)}"/>`);
    }
    out.push(`<line x1="${n(x1)}" y1="${n(busY)}" x2="${n(x2)}" y2="${n(busY)}" stroke="${colorOf(i)}" stroke-width="4"${cols.length ? '' : ' stroke-dasharray="6 4"'}/>`);
    out.push(text(lx, busY - 7, label, `fill="${colorOf(i)}"`));
    out.push('</g>');
  });

  const width = Math.max(x - GAP + MARGIN, right + MARGIN, MARGIN * 2 + 420);
  const height = busTop + Math.max(0, span - 1) * BUS_GAP + 2 * MARGIN;
  const title = `ts-overlay: ${count(t.nodes.length, 'node')}, ${count(t.networks.length, 'network')}, ${count(t.endpoints.length, 'endpoint')}`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${n(width)}" height="${n(height)}" viewBox="0 0 ${n(width)} ${n(height)}" font-family="monospace" font-size="12">`,
    `<title>${xml(title)}</title>`,
    `<rect x="0" y="0" width="${n(width)}" height="${n(height)}" fill="#ffffff"/>`,
    text(MARGIN, MARGIN + 12, title, 'font-size="14" font-weight="bold"'),
    ...out,
    '</svg>',
    '',
  ].join('\n');
}

const vtepLine = (node: TopologyNode) => `VTEP ${node.vtep ?? 'unknown'}${node.alive ? '' : '  DEAD'}`;
const netTitle = (net: { name: string; subnet: string; vni: number }) => `${net.name}  ${net.subnet}  VNI ${net.vni}`;
const n = (v: number) => String(Math.round(v * 10) / 10);

function rect(x: number, y: number, w: number, h: number, fill: string, stroke: string, dash?: string): string {
  return `<rect x="${n(x)}" y="${n(y)}" width="${n(w)}" height="${n(h)}" rx="6" fill="${fill}" stroke="${stroke}"${dash ? ` stroke-dasharray="${dash}"` : ''}/>`;
}

function text(x: number, y: number, content: string, attrs = ''): string {
  return `<text x="${n(x)}" y="${n(y)}"${attrs ? ` ${attrs}` : ''} xml:space="preserve">${xml(content)}</text>`;
}

/** Escapes text and attribute values; drops the control characters XML 1.0 forbids outright. */
export function xml(s: string): string {
  return s
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
