import { describe, expect, it } from 'vitest';
import { buildTopology, endpointLabel, type Topology } from '../../src/topology/model.js';
import { renderDot } from '../../src/topology/dot.js';
import { renderSvg } from '../../src/topology/svg.js';
import { renderText } from '../../src/topology/text.js';
import { parseXml } from '../helpers/xml.js';

const id = (c: string) => c.repeat(64);

/** Two live hosts and a dead one, a network spanning all, one on h2 only, one on no host. */
const cluster: Topology = buildTopology(
  [{ name: 'h2', alive: true, vtep: '198.18.0.12' }, { name: 'h1', alive: true, vtep: '198.18.0.11' }, { name: 'h3', alive: false, vtep: '198.18.0.13' }],
  [
    { id: id('a'), name: 'life', subnet: '10.90.0.0/24', vni: 4096, hosts: ['h3', 'h1', 'h2'] },
    { id: id('b'), name: 'web', subnet: '10.91.0.0/24', vni: 4097, hosts: ['h2'] },
    { id: id('c'), name: 'empty', subnet: '10.92.0.0/24', vni: 4098, hosts: [] },
  ],
  [
    { id: id('1'), network: id('a'), node: 'h1', ip: '10.90.0.10', mac: '02:42:0a:5a:00:0a' },
    { id: id('2'), network: id('a'), node: 'h2', ip: '10.90.0.3', mac: '02:42:0a:5a:00:03' },
    { id: id('3'), network: id('a'), node: 'h1', ip: '10.90.0.2', mac: '02:42:0a:5a:00:02' },
    { id: id('4'), network: id('b'), node: 'h2', ip: '10.91.0.2', mac: '02:42:0a:5b:00:02' },
  ],
);

describe('topology as text', () => {
  it('draws hosts, their networks and endpoints as a tree, then the networks', () => {
    expect(renderText(cluster)).toBe(`ts-overlay topology: 3 nodes, 3 networks, 4 endpoints

hosts
├── h1  alive  VTEP 198.18.0.11
│   └── life  10.90.0.0/24  VNI 4096
│       ├── 10.90.0.2        02:42:0a:5a:00:02  endpoint 333333333333
│       └── 10.90.0.10       02:42:0a:5a:00:0a  endpoint 111111111111
├── h2  alive  VTEP 198.18.0.12
│   ├── life  10.90.0.0/24  VNI 4096
│   │   └── 10.90.0.3        02:42:0a:5a:00:03  endpoint 222222222222
│   └── web  10.91.0.0/24  VNI 4097
│       └── 10.91.0.2        02:42:0a:5b:00:02  endpoint 444444444444
└── h3  DEAD  VTEP 198.18.0.13
    └── life  10.90.0.0/24  VNI 4096
        └── (no endpoints)

networks
├── empty  10.92.0.0/24  VNI 4098  on no host
├── life  10.90.0.0/24  VNI 4096  on h1, h2, h3
└── web  10.91.0.0/24  VNI 4097  on h2
`);
  });

  it('says so when the cluster is empty', () => {
    expect(renderText(buildTopology([], [], []))).toBe('ts-overlay topology: 0 nodes, 0 networks, 0 endpoints\n\nhosts\n\nnetworks\n');
  });
});

describe('topology as DOT', () => {
  const dot = renderDot(cluster);

  it('is one undirected graph with balanced braces', () => {
    expect(dot.startsWith('graph "ts-overlay" {\n')).toBe(true);
    expect(dot.trimEnd().endsWith('}')).toBe(true);
    expect(dot.split('{').length).toBe(dot.split('}').length);
    expect(dot).not.toContain('->'); // undirected: edges are --
  });

  it('puts each host in a cluster with its VTEP and endpoints', () => {
    const h2 = /subgraph "cluster_node_h2" \{([^}]*)\}/.exec(dot)?.[1] ?? '';
    expect(h2).toContain('"vtep:h2" [shape=box, label="VTEP 198.18.0.12"]');
    expect(h2).toContain(`"endpoint:${id('2')}"`);
    expect(h2).toContain(`"endpoint:${id('4')}"`);
    expect(h2).not.toContain(`"endpoint:${id('1')}"`);
    expect(dot).toContain('label="h3 (dead)"; style="rounded,dashed"');
  });

  it('joins endpoints to their network and VTEPs to the networks their host holds', () => {
    const edges = dot.split('\n').filter((l) => l.includes(' -- '));
    expect(edges.filter((l) => l.startsWith('  "endpoint:'))).toHaveLength(4);
    expect(edges).toContain(`  "endpoint:${id('4')}" -- "network:${id('b')}";`);
    const vtepEdges = edges.filter((l) => l.startsWith('  "vtep:')).map((l) => l.split(' [')[0]!.trim());
    expect(vtepEdges.sort()).toEqual([
      `"vtep:h1" -- "network:${id('a')}"`,
      `"vtep:h2" -- "network:${id('a')}"`,
      `"vtep:h2" -- "network:${id('b')}"`,
      `"vtep:h3" -- "network:${id('a')}"`,
    ]);
    expect(dot).toContain('label="life\\n10.90.0.0/24\\nVNI 4096"');
  });

  it('escapes quotes and backslashes in names', () => {
    const odd = buildTopology([{ name: 'a"b\\c', alive: true, vtep: '198.18.0.1' }], [], []);
    expect(renderDot(odd)).toContain('subgraph "cluster_node_a\\"b\\\\c" {');
  });
});

describe('topology as SVG', () => {
  it('is well-formed SVG naming every node, network and endpoint', () => {
    const doc = parseXml(renderSvg(cluster));
    expect(doc.elements[0]).toBe('svg');
    expect(doc.attributes[0]!.attrs.xmlns).toBe('http://www.w3.org/2000/svg');
    const texts = doc.texts.join('\n');
    for (const n of cluster.nodes) expect(doc.texts).toContain(n.name);
    for (const n of cluster.nodes) expect(texts).toContain(`VTEP ${n.vtep}`);
    for (const e of cluster.endpoints) expect(doc.texts).toContain(endpointLabel(e));
    for (const n of cluster.networks) expect(texts).toContain(`${n.name}  ${n.subnet}  VNI ${n.vni}`);
    const endpointGroups = doc.attributes.filter((a) => a.attrs.class === 'endpoint').map((a) => a.attrs['data-id']);
    expect(endpointGroups.sort()).toEqual(cluster.endpoints.map((e) => e.id).sort());
  });

  it('ties each network to the hosts it spans', () => {
    const svg = renderSvg(cluster);
    const group = (name: string) => new RegExp(`<g class="network" data-name="${name}"[^>]*>([\\s\\S]*?)</g>`).exec(svg)?.[1] ?? '';
    expect(group('life').match(/<circle /g)).toHaveLength(3);
    expect(group('web').match(/<circle /g)).toHaveLength(1);
    expect(group('empty').match(/<circle /g)).toBeNull();
    expect(group('empty')).toContain('(on no host)');
  });

  it('stays well-formed with names that need escaping, and fits every box in the picture', () => {
    const odd = buildTopology(
      [{ name: `<h&"1'>`, alive: true, vtep: '198.18.0.1' }],
      [{ id: id('d'), name: 'a&b', subnet: '10.1.0.0/24', vni: 5000, hosts: [`<h&"1'>`] }],
      [{ id: id('5'), network: id('d'), node: `<h&"1'>`, ip: '10.1.0.2', mac: '02:00:00:00:00:01' }],
    );
    const svg = renderSvg(odd);
    const doc = parseXml(svg);
    expect(doc.texts).toContain(`<h&"1'>`);
    const svgAttrs = doc.attributes[0]!.attrs;
    const [w, h] = [Number(svgAttrs.width), Number(svgAttrs.height)];
    for (const { element, attrs } of doc.attributes.filter((a) => a.element === 'rect' || a.element === 'line')) {
      const xs = element === 'rect' ? [Number(attrs.x), Number(attrs.x) + Number(attrs.width)] : [Number(attrs.x1), Number(attrs.x2)];
      const ys = element === 'rect' ? [Number(attrs.y), Number(attrs.y) + Number(attrs.height)] : [Number(attrs.y1), Number(attrs.y2)];
      for (const v of xs) expect(v).toBeLessThanOrEqual(w);
      for (const v of ys) expect(v).toBeLessThanOrEqual(h);
    }
  });

  it('draws an empty cluster too', () => {
    expect(parseXml(renderSvg(buildTopology([], [], []))).texts).toContain('ts-overlay: 0 nodes, 0 networks, 0 endpoints');
  });
});

describe('the XML check itself', () => {
  it('rejects what is not well-formed', () => {
    expect(() => parseXml('<svg><g></svg>')).toThrow();
    expect(() => parseXml('<svg><text>a & b</text></svg>')).toThrow();
    expect(() => parseXml('<svg x=1/>')).toThrow();
  });
});

describe('topology --format', () => {
  it('takes text, dot and svg, and refuses any other name, those of an object\'s own methods too', async () => {
    const { takeFormat } = await import('../../src/cli/topology.js');
    expect(takeFormat(['--format', 'svg', '--etcd', 'x']).format).toBe('svg');
    expect(takeFormat(['--format=dot']).format).toBe('dot');
    expect(takeFormat([]).format).toBe('text');
    for (const bad of ['toString', 'hasOwnProperty', 'constructor', 'png', '']) {
      expect(() => takeFormat(['--format', bad])).toThrow(/is not one of text, dot, svg/);
    }
  });
});
