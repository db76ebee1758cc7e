/**
 * Where ts-overlay's container-to-container throughput parts from the hand-made kernel path of
 * its own shape (a macvlan on a VXLAN device, kernel-vxlan.ts): in ts-overlay's devices, or in
 * the containers around the two ends. One two-host lab, one ts-overlay network, and these paths
 * from host 1 to host 2, every repeat in a rotated order:
 *  - tsContainer: iperf3 inside the two containers (`docker exec`), as bench/compare.ts measures;
 *  - tsContainerNet: the node's iperf3 entered into the two containers' network namespaces only
 *    (no container cgroup or seccomp; the namespaces as the engine set them up);
 *  - tsContainerNetNotrack: the same with conntrack skipped in those two namespaces (the engine's
 *    embedded-DNS NAT rules switch conntrack on in every container of a user-defined network,
 *    Docker's own overlays' too);
 *  - tsDevicePlainNs: a macvlan made here on ts-overlay's own VXLAN device, in a plain namespace
 *    (static neighbour and FDB entries): ts-overlay's devices without the container;
 *  - tsDeviceEngineRules: the same in two more plain namespaces holding a copy of the iptables
 *    rules the engine put in the containers' namespaces (`iptables-save` there, `iptables-restore`
 *    here): whether those rules are what the container's namespace costs;
 *  - kernelMacvlan: the hand-made path, the reference.
 * Each repeat's ratio to the reference is taken from that repeat (paired: the machine's drift
 * between repeats cancels), and the report gives their medians.
 *
 *   TSO_TEST_ID=5 npx tsx bench/namespace-cost.ts
 * BENCH_UNDERLAY_MTU (default 9000), BENCH_REPEATS (default 12), BENCH_IPERF_SECONDS (default 3),
 * BENCH_KEEP_LABS=1 leaves the lab (TSO_LAB bns<TSO_TEST_ID>) up. Writes
 * $BENCH_RESULTS_DIR/namespace-cost.json (default a new folder in /tmp: experiment figures).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { BenchLab, containerNet, inNet, namedNet, sleep, spawnInNet, waitFor } from './bench-lab.js';
import { copyIptablesRules, endExperiment, KernelVxlan, KVX_MACVLAN_ADDR, macvlanEnd, vtep } from './kernel-vxlan.js';
import { iperf3Gbps } from './netperf.js';
import { median, rotated } from './stats.js';

const MTU = Number(process.env.BENCH_UNDERLAY_MTU ?? 9000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 12);
const SECONDS = Number(process.env.BENCH_IPERF_SECONDS ?? 3);
const RESULTS = process.env.BENCH_RESULTS_DIR ?? mkdtempSync('/tmp/ts-overlay-namespace-cost.');
const lab = new BenchLab(`bns${process.env.TSO_TEST_ID ?? ''}`);
const log = (msg: string) => console.error(`[namespace-cost ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const SUBNET = '10.231.0.0/24';
/**
 * The plain-namespace ends on ts-overlay's device, pair 0 bare and pair 1 with the engine's rules:
 * addresses the plugin never hands out (it starts at .2).
 */
const plainAddr = (pair: number, host: number) => `10.231.0.${250 - 2 * pair + host}`;
const plainMac = (pair: number, host: number) => `02:00:c0:00:02:e${2 * pair + host}`;
const plainNs = (pair: number, host: number) => `${lab.ns(host)}-tp${pair}`;
/** iperf3 server ports on host 2: the container's own server keeps 5201. */
const PORT = { containerNet: '5202', plain: ['5203', '5204'] };

/** ts-overlay's VXLAN device on host H (the lab has one network). */
async function tsVxlanDevice(host: number): Promise<string> {
  const links = JSON.parse(await lab.exec(host, 'ip', '-d', '-j', 'link', 'show', 'type', 'vxlan')) as Array<{ ifname: string; linkinfo?: { info_data?: { port?: number } } }>;
  const dev = links.find((l) => l.linkinfo?.info_data?.port === 4789)?.ifname;
  if (!dev) throw new Error(`host ${host}: no VXLAN device on port 4789 (${links.map((l) => l.ifname).join(', ')})`);
  return dev;
}

/**
 * The peer's MAC of pair P on ts-overlay's device, put back before every use: the plugin's
 * reconcile removes FDB entries it did not make (its flood entry would carry the frames anyway).
 */
async function plainFdb(pair: number, devs: Map<number, string>): Promise<void> {
  for (const h of [1, 2]) await lab.exec(h, 'bridge', 'fdb', 'replace', plainMac(pair, 3 - h), 'dev', devs.get(h)!, 'dst', vtep(3 - h), 'self', 'permanent');
}

/** Conntrack skipped (ON) or not in the namespaces NETS; taking the rules out skips any already gone. */
async function notrack(nets: readonly string[], on: boolean): Promise<void> {
  for (const net of nets) {
    for (const chain of ['PREROUTING', 'OUTPUT']) {
      const rule = ['-t', 'raw', on ? '-I' : '-D', chain, ...(on ? ['1'] : []), '-j', 'CT', '--notrack'];
      await inNet(net, 'iptables', ...rule).catch((err: Error) => {
        if (on) throw err;
      });
    }
  }
}

async function main() {
  const loadAtStart = loadavg()[0]!;
  const kvx = new KernelVxlan(lab);
  const servers: ReturnType<typeof spawnInNet>[] = [];
  try {
    log(`lab ${lab.name}: up, underlay MTU ${MTU}`);
    await lab.script('up', '--hosts', '2', '--mtu', String(MTU));
    await lab.docker(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', '--subnet', SUBNET, 'nsnet');
    await waitFor('nsnet on host 2', () => lab.hasNetwork(2, 'nsnet'));
    await lab.docker(2, 'run', '-d', '--name', 'srv', '--net', 'nsnet', 'iperf3:local');
    await lab.docker(1, 'run', '-d', '--name', 'cli', '--net', 'nsnet', 'iperf3:local', 'sleep', '36000');
    const target = await lab.containerIp(2, 'srv', 'nsnet');
    const cliNet = containerNet(await lab.pidOf(1, 'cli'));
    const srvNet = containerNet(await lab.pidOf(2, 'srv'));
    const devs = new Map<number, string>();
    for (const h of [1, 2]) {
      devs.set(h, await tsVxlanDevice(h));
      // Like kernel-vxlan.ts's macvlan shape, on ts-overlay's device; named in the lab's pattern, so `lab down` removes them.
      for (const pair of [0, 1]) await macvlanEnd(lab, h, { ns: plainNs(pair, h), lower: devs.get(h)!, temp: 'tpn0', mtu: MTU - 50, mac: (host) => plainMac(pair, host), addr: (host) => plainAddr(pair, host), prefix: 24 });
    }
    await copyIptablesRules(cliNet, namedNet(plainNs(1, 1)));
    await copyIptablesRules(srvNet, namedNet(plainNs(1, 2)));
    await kvx.setUp(MTU - 50);
    servers.push(
      spawnInNet(kvx.macvlanNetFile(2), 'iperf3', '-s'),
      spawnInNet(srvNet, 'iperf3', '-s', '-p', PORT.containerNet),
      ...[0, 1].map((pair) => spawnInNet(namedNet(plainNs(pair, 2)), 'iperf3', '-s', '-p', PORT.plain[pair]!)),
    );
    await sleep(300);

    const iperf = ['-t', String(SECONDS), ...(SECONDS >= 3 ? ['-O', '1'] : []), '--connect-timeout', '3000', '-J'];
    const plainPath = async (pair: number) => {
      await plainFdb(pair, devs);
      return inNet(namedNet(plainNs(pair, 1)), 'iperf3', '-c', plainAddr(pair, 2), '-p', PORT.plain[pair]!, ...iperf);
    };
    const paths = {
      tsContainer: () => lab.docker(1, 'exec', 'cli', 'iperf3', '-c', target, ...iperf),
      tsContainerNet: () => inNet(cliNet, 'iperf3', '-c', target, '-p', PORT.containerNet, ...iperf),
      tsContainerNetNotrack: async () => {
        try {
          await notrack([cliNet, srvNet], true);
          return await inNet(cliNet, 'iperf3', '-c', target, '-p', PORT.containerNet, ...iperf);
        } finally {
          await notrack([cliNet, srvNet], false);
        }
      },
      tsDevicePlainNs: () => plainPath(0),
      tsDeviceEngineRules: () => plainPath(1),
      kernelMacvlan: () => inNet(kvx.macvlanNetFile(1), 'iperf3', '-c', KVX_MACVLAN_ADDR(2), ...iperf),
    };
    type PathId = keyof typeof paths;
    const ids = Object.keys(paths) as PathId[];
    const gbps = Object.fromEntries(ids.map((id) => [id, [] as number[]])) as Record<PathId, number[]>;
    log(`${REPEATS} repeats x ${ids.length} paths x ${SECONDS} s, order rotated each repeat`);
    for (let r = 0; r < REPEATS; r++) {
      for (const id of rotated(ids, r)) {
        gbps[id].push(await paths[id]().then(iperf3Gbps).catch((err: Error) => (log(`${id}: ${err.message.split('\n')[0]}`), NaN)));
      }
      log(`repeat ${r + 1}: ${ids.map((id) => `${id} ${gbps[id].at(-1)!.toFixed(2)}`).join(', ')} Gbit/s`);
    }
    const pairedRatio = (id: PathId) => median(gbps[id].map((g, i) => g / gbps.kernelMacvlan[i]!).filter(Number.isFinite));
    const rows = ids.map((id) => ({ path: id, medianGbps: median(gbps[id].filter(Number.isFinite)), overKernelMacvlan: pairedRatio(id), samples: gbps[id] }));
    const report = {
      kind: 'ts-overlay namespace cost',
      date: new Date().toISOString(),
      settings: { underlayMtu: MTU, overlayMtu: MTU - 50, repeats: REPEATS, iperfSeconds: SECONDS },
      loadAverage1m: { start: loadAtStart, end: loadavg()[0]! },
      rows,
    };
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(resolve(RESULTS, 'namespace-cost.json'), `${JSON.stringify(report, null, 2)}\n`);
    console.log('| path | median | / kernel macvlan (median of per-repeat ratios) |');
    console.log('|---|---|---|');
    for (const row of rows) console.log(`| ${row.path} | ${row.medianGbps.toFixed(2)} Gbit/s | ${row.overKernelMacvlan.toFixed(3)}x |`);
    console.log(`\nunderlay MTU ${MTU}; ${REPEATS} repeats of ${SECONDS} s; load average ${loadAtStart.toFixed(1)} -> ${report.loadAverage1m.end.toFixed(1)}; ${resolve(RESULTS, 'namespace-cost.json')}`);
  } finally {
    await endExperiment(lab, kvx, servers, log);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
