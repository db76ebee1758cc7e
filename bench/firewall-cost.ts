/**
 * What the node's netfilter costs ts-overlay's throughput, against hand-made kernel VXLAN paths
 * in the same nodes. Each variant is switched on and off here on both hosts:
 *  - guardBypassed: the VXLAN guard sends every VXLAN datagram through its INPUT chain; here an
 *    ACCEPT for UDP 4789 is inserted in front of it;
 *  - notrackNode: the node tracks every VXLAN datagram; here raw PREROUTING and OUTPUT skip
 *    conntrack for UDP 4789;
 *  - notrackAll: that, and nothing tracked in the two iperf3 containers (Docker's embedded DNS
 *    rules turn conntrack on in every container, its overlays' containers too);
 *  - bridgeNfOff: `net.bridge.bridge-nf-call-iptables=0` in the nodes (not something the plugin
 *    may do to a host: the engine's bridge networks rely on it). ts-overlay has no bridge since
 *    its ports became macvlans; this is the control that it no longer depends on the setting,
 *    while the hand-made bridge in the node does.
 * BENCH_VARIANTS=notrackNode,... picks variants (asInstalled always runs).
 * Every repeat measures every variant (in a rotated order, so the machine's drift does not
 * favour one), each time ts-overlay's path (container to container, iperf3 TCP) and the
 * hand-made paths (kernel-vxlan.ts, static FDB): a bridge in the node's namespace (ts-overlay's
 * shape before the macvlans), a bridge in a namespace of its own (Docker's overlays' shape), and
 * a macvlan on the VXLAN device (ts-overlay's shape now). Only ratios within the run mean
 * something. The plugin's own rules are put back as they were after each variant (its keepers
 * leave a jump where it sits, so they do not undo a variant while it runs).
 *
 *   TSO_TEST_ID=5 npx tsx bench/firewall-cost.ts
 * BENCH_REPEATS (default 5), BENCH_IPERF_SECONDS (default 3), BENCH_KEEP_LABS=1 leaves the lab
 * (TSO_LAB bfw<TSO_TEST_ID>) up. Writes $BENCH_RESULTS_DIR/firewall-cost.json (default a new
 * folder in /tmp: these are experiment figures, not the report's).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { BenchLab, containerNet, inNet, sleep, spawnInNet, waitFor } from './bench-lab.js';
import { endExperiment, KernelVxlan, KVX_MACVLAN_ADDR, KVX_NETNS_ADDR, KVX_NS_ADDR } from './kernel-vxlan.js';
import { iperf3Gbps } from './netperf.js';
import { median, rotated } from './stats.js';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const SECONDS = Number(process.env.BENCH_IPERF_SECONDS ?? 3);
const RESULTS = process.env.BENCH_RESULTS_DIR ?? mkdtempSync('/tmp/ts-overlay-firewall-cost.');
const lab = new BenchLab(`bfw${process.env.TSO_TEST_ID ?? ''}`);
const log = (msg: string) => console.error(`[firewall-cost ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const SUBNET = '10.230.0.0/24';
/**
 * iptables rules a variant adds (table, chain, rule; inserted first, removed again by the same
 * spec) in each node, or with `inContainers` in the two iperf3 containers' namespaces.
 */
interface Rule { readonly table: string; readonly chain: string; readonly rule: readonly string[]; readonly inContainers?: true }
/** A sysctl a variant sets in each node, and the value it puts back. */
interface Sysctl { readonly sysctl: string; readonly on: string; readonly off: string }
type Extra = Rule | Sysctl;
const EXTRA = {
  guardBypassed: [{ table: 'filter', chain: 'INPUT', rule: ['-p', 'udp', '-m', 'udp', '--dport', '4789', '-j', 'ACCEPT'] }],
  // Conntrack skipped for the VXLAN datagrams, which the node tracks.
  notrackVxlan: [
    { table: 'raw', chain: 'PREROUTING', rule: ['-p', 'udp', '-m', 'udp', '--dport', '4789', '-j', 'CT', '--notrack'] },
    { table: 'raw', chain: 'OUTPUT', rule: ['-p', 'udp', '-m', 'udp', '--dport', '4789', '-j', 'CT', '--notrack'] },
  ],
  // Docker's own: the embedded DNS's NAT rules turn conntrack on in every container (its
  // overlays' containers too); measured to know its share, not something ts-overlay controls.
  notrackContainers: [
    { table: 'raw', chain: 'PREROUTING', rule: ['-j', 'CT', '--notrack'], inContainers: true },
    { table: 'raw', chain: 'OUTPUT', rule: ['-j', 'CT', '--notrack'], inContainers: true },
  ],
  bridgeNfOff: [{ sysctl: 'net.bridge.bridge-nf-call-iptables', on: '0', off: '1' }],
} as const satisfies Record<string, readonly Extra[]>;
const VARIANTS = {
  asInstalled: [],
  guardBypassed: [...EXTRA.guardBypassed],
  notrackNode: [...EXTRA.notrackVxlan],
  notrackAll: [...EXTRA.notrackVxlan, ...EXTRA.notrackContainers],
  bridgeNfOff: [...EXTRA.bridgeNfOff],
} as const satisfies Record<string, readonly Extra[]>;
type Variant = keyof typeof VARIANTS;
/** BENCH_VARIANTS=a,b,...: only these (asInstalled always). */
const CHOSEN = process.env.BENCH_VARIANTS?.split(',');

/** Network namespace files of the iperf3 containers (cli on host 1, srv on host 2). */
const containerNets = new Map<number, string>();

async function setVariant(v: Variant, on: boolean): Promise<void> {
  for (const host of [1, 2]) {
    for (const x of VARIANTS[v] as readonly Extra[]) {
      if ('sysctl' in x) {
        await lab.exec(host, 'sysctl', '-qw', `${x.sysctl}=${on ? x.on : x.off}`);
        continue;
      }
      const op = on ? ['-I', x.chain, '1'] : ['-D', x.chain];
      if (x.inContainers) await inNet(containerNets.get(host)!, 'iptables', '-t', x.table, ...op, ...x.rule);
      else await lab.exec(host, 'iptables', '-t', x.table, ...op, ...x.rule);
    }
  }
}

async function main() {
  const loadAtStart = loadavg()[0]!;
  const kvx = new KernelVxlan(lab);
  const servers: ReturnType<typeof spawnInNet>[] = [];
  try {
    log(`lab ${lab.name}: up`);
    await lab.script('up', '--hosts', '2');
    await lab.docker(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', '--subnet', SUBNET, 'fwnet');
    await waitFor('fwnet on host 2', () => lab.hasNetwork(2, 'fwnet'));
    await lab.docker(2, 'run', '-d', '--name', 'srv', '--net', 'fwnet', 'iperf3:local');
    await lab.docker(1, 'run', '-d', '--name', 'cli', '--net', 'fwnet', 'iperf3:local', 'sleep', '36000');
    const target = await lab.containerIp(2, 'srv', 'fwnet');
    containerNets.set(1, containerNet(await lab.pidOf(1, 'cli')));
    containerNets.set(2, containerNet(await lab.pidOf(2, 'srv')));
    await kvx.setUp(1450);
    servers.push(spawnInNet(kvx.netFile(2), 'iperf3', '-s'), spawnInNet(kvx.netnsNetFile(2), 'iperf3', '-s'), spawnInNet(kvx.macvlanNetFile(2), 'iperf3', '-s'));
    await sleep(300);
    const before = (await lab.exec(1, 'iptables', '-S')).trim();

    const paths = {
      tsOverlay: (args: string[]) => lab.docker(1, 'exec', 'cli', 'iperf3', '-c', target, ...args),
      kernelVxlan: (args: string[]) => inNet(kvx.netFile(1), 'iperf3', '-c', KVX_NS_ADDR(2), ...args),
      kernelVxlanNetns: (args: string[]) => inNet(kvx.netnsNetFile(1), 'iperf3', '-c', KVX_NETNS_ADDR(2), ...args),
      kernelMacvlan: (args: string[]) => inNet(kvx.macvlanNetFile(1), 'iperf3', '-c', KVX_MACVLAN_ADDR(2), ...args),
    };
    type PathId = keyof typeof paths;
    const names = (Object.keys(VARIANTS) as Variant[]).filter((v) => v === 'asInstalled' || !CHOSEN || CHOSEN.includes(v));
    const gbps = Object.fromEntries(names.map((v) => [v, { tsOverlay: [] as number[], kernelVxlan: [] as number[], kernelVxlanNetns: [] as number[], kernelMacvlan: [] as number[], ratio: [] as number[], ratioNetns: [] as number[], ratioMacvlan: [] as number[] }]));
    const omit = SECONDS >= 3 ? ['-O', '1'] : [];
    log(`${REPEATS} repeats x ${names.length} variants x 4 paths x ${SECONDS} s`);
    for (let r = 0; r < REPEATS; r++) {
      const order = rotated(names, r);
      for (const v of order) {
        await setVariant(v, true);
        try {
          const one: Partial<Record<PathId, number>> = {};
          for (const p of Object.keys(paths) as PathId[]) {
            const g = await paths[p](['-t', String(SECONDS), ...omit, '--connect-timeout', '3000', '-J']).then(iperf3Gbps).catch((err: Error) => (log(`${v} ${p}: ${err.message.split('\n')[0]}`), NaN));
            one[p] = g;
            gbps[v]![p].push(g);
          }
          gbps[v]!.ratio.push(one.tsOverlay! / one.kernelVxlan!);
          gbps[v]!.ratioNetns.push(one.tsOverlay! / one.kernelVxlanNetns!);
          gbps[v]!.ratioMacvlan.push(one.tsOverlay! / one.kernelMacvlan!);
        } finally {
          await setVariant(v, false);
        }
      }
      log(`repeat ${r + 1}: ${names.map((v) => `${v} ${(['tsOverlay', 'kernelVxlan', 'kernelVxlanNetns', 'kernelMacvlan'] as const).map((p) => gbps[v]![p].at(-1)!.toFixed(2)).join('/')}`).join(', ')} Gbit/s (ts-overlay/kernel/kernel netns/kernel macvlan)`);
    }
    const after = (await lab.exec(1, 'iptables', '-S')).trim();
    if (after !== before) throw new Error(`host 1's rules differ after the run:\n--- before\n${before}\n--- after\n${after}`);

    const rows = names.map((v) => ({
      variant: v,
      tsOverlayGbps: median(gbps[v]!.tsOverlay),
      kernelVxlanGbps: median(gbps[v]!.kernelVxlan),
      kernelVxlanNetnsGbps: median(gbps[v]!.kernelVxlanNetns),
      kernelMacvlanGbps: median(gbps[v]!.kernelMacvlan),
      ratioMedian: median(gbps[v]!.ratio),
      ratioNetnsMedian: median(gbps[v]!.ratioNetns),
      ratioMacvlanMedian: median(gbps[v]!.ratioMacvlan),
      samples: gbps[v],
    }));
    const report = {
      kind: 'ts-overlay firewall cost',
      date: new Date().toISOString(),
      settings: { repeats: REPEATS, iperfSeconds: SECONDS, underlayMtu: 1500, overlayMtu: 1450 },
      loadAverage1m: { start: loadAtStart, end: loadavg()[0]! },
      rows,
    };
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(resolve(RESULTS, 'firewall-cost.json'), `${JSON.stringify(report, null, 2)}\n`);
    console.log('| variant | ts-overlay | kernel VXLAN, bridge in the node | kernel VXLAN, bridge in a netns | kernel VXLAN, macvlan | ts / kernel node (median of per-repeat ratios) | ts / kernel netns | ts / kernel macvlan |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const row of rows) console.log(`| ${row.variant} | ${row.tsOverlayGbps.toFixed(2)} Gbit/s | ${row.kernelVxlanGbps.toFixed(2)} Gbit/s | ${row.kernelVxlanNetnsGbps.toFixed(2)} Gbit/s | ${row.kernelMacvlanGbps.toFixed(2)} Gbit/s | ${row.ratioMedian.toFixed(2)}x | ${row.ratioNetnsMedian.toFixed(2)}x | ${row.ratioMacvlanMedian.toFixed(2)}x |`);
    console.log(`\n${REPEATS} repeats of ${SECONDS} s; load average ${loadAtStart.toFixed(1)} -> ${report.loadAverage1m.end.toFixed(1)}; ${resolve(RESULTS, 'firewall-cost.json')}`);
  } finally {
    await endExperiment(lab, kvx, servers, log);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
