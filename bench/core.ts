/**
 * Core benchmark of issue 2, in the e2e lab's engines (`TSO_LAB=e2e scripts/lab up` first, or
 * let `npm run bench:core` do it):
 *  1. `docker run -d` wall time on ts-overlay and on Docker's bridge driver, interleaved in
 *     one run (the machine is noisy: only the ratio means something);
 *  2. convergence: from `docker run -d` returning on host 2 to the first ping answer seen by
 *     a container on host 1 that pings the new address every 10 ms from before the run;
 *  3. propagation: from `docker network create` returning on host 1 to the network being
 *     listed by `docker network ls` on host 2.
 * Prints a Markdown table and writes bench/results/core.json.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { docker, dockerOk, REPO, resetLab, runBusybox, waitFor, networkNames } from '../test/helpers/lab.js';
import { fmt, median, percentile } from './stats.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);

async function timeRun(host: number, name: string, net: string): Promise<number> {
  const started = performance.now();
  await dockerOk(host, 'run', '-d', '--name', name, '--net', net, 'busybox', 'sleep', '3600');
  return performance.now() - started;
}

async function dockerRunTimes() {
  const overlay: number[] = [];
  const bridge: number[] = [];
  await dockerOk(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', 'bench');
  await dockerOk(1, 'network', 'create', '-d', 'bridge', 'benchbr');
  await timeRun(1, 'warm-o', 'bench'); // first use pays one-off costs (image layers, plugin activation)
  await timeRun(1, 'warm-b', 'benchbr');
  for (let i = 0; i < RUNS; i++) {
    overlay.push(await timeRun(1, `o${i}`, 'bench'));
    bridge.push(await timeRun(1, `b${i}`, 'benchbr'));
  }
  await resetLab();
  await docker(1, 'network', 'rm', 'benchbr');
  return { overlay, bridge };
}

/** The PID of a container's first process, to enter its network namespace. */
const pidOf = async (host: number, name: string) => dockerOk(host, 'inspect', '-f', '{{.State.Pid}}', name);

async function convergence(): Promise<number[]> {
  await dockerOk(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', '--subnet', '10.99.0.0/24', 'conv');
  await waitFor('conv on host 2', async () => (await networkNames(2)).includes('conv'));
  await runBusybox(1, 'probe', '--net', 'conv');
  const pid = await pidOf(1, 'probe');
  // Re-try ARP every 10 ms instead of every second, so the probe sees the entry as soon as it exists.
  execFileSync('nsenter', ['-t', pid, '-n', 'sysctl', '-qw', 'net.ipv4.neigh.eth0.retrans_time_ms=10']);

  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const target = `10.99.0.${100 + i}`;
    const ping = spawn('nsenter', ['-t', pid, '-n', 'ping', '-D', '-n', '-i', '0.01', '-W', '1', target], { stdio: ['ignore', 'pipe', 'ignore'] });
    let firstReply: number | undefined;
    let buffered = '';
    ping.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const m = /^\[(\d+\.\d+)\] \d+ bytes from/m.exec(buffered);
      if (m && firstReply === undefined) firstReply = Number(m[1]) * 1000;
    });
    await new Promise((r) => setTimeout(r, 300)); // the pinger is running before the container exists
    await dockerOk(2, 'run', '-d', '--name', `t${i}`, '--net', 'conv', '--ip', target, 'busybox', 'sleep', '3600');
    const returned = Date.now();
    await waitFor(`a ping answer from ${target}`, async () => firstReply !== undefined, 10_000, 5).catch(() => undefined);
    ping.kill();
    if (firstReply !== undefined) samples.push(firstReply - returned);
    await dockerOk(2, 'rm', '-f', `t${i}`);
  }
  await resetLab();
  return samples;
}

async function propagation(): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < Math.min(RUNS, 10); i++) {
    await dockerOk(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', `prop${i}`);
    const created = performance.now();
    await waitFor(`prop${i} on host 2`, async () => (await networkNames(2)).includes(`prop${i}`), 10_000, 5);
    samples.push(performance.now() - created);
  }
  await resetLab();
  return samples;
}

async function main() {
  await resetLab();
  const { overlay, bridge } = await dockerRunTimes();
  const conv = await convergence();
  const prop = await propagation();
  const ratio = median(overlay) / median(bridge);
  const report = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30) },
    runs: RUNS,
    dockerRun: { tsOverlay: { median: median(overlay), p95: percentile(overlay, 95) }, bridge: { median: median(bridge), p95: percentile(bridge, 95) }, ratio },
    convergence: { median: median(conv), p95: percentile(conv, 95), samples: conv.length, negative: conv.filter((c) => c < 0).length },
    propagation: { median: median(prop), max: Math.max(...prop), samples: prop.length },
  };
  const lines = [
    `| what (${RUNS} runs each, one lab, ${report.machine.cpus} cores) | median | p95 |`,
    '|---|---|---|',
    `| \`docker run -d\`, ts-overlay | ${fmt(report.dockerRun.tsOverlay.median)} | ${fmt(report.dockerRun.tsOverlay.p95)} |`,
    `| \`docker run -d\`, bridge driver | ${fmt(report.dockerRun.bridge.median)} | ${fmt(report.dockerRun.bridge.p95)} |`,
    `| ratio ts-overlay / bridge (medians) | ${ratio.toFixed(2)}x | |`,
    `| convergence: run returns on host 2 -> first answer on host 1 (${conv.length} samples; negative = reachable before the run returned) | ${fmt(report.convergence.median)} | ${fmt(report.convergence.p95)} |`,
    `| propagation: create returns on host 1 -> listed on host 2 (${prop.length} samples, polled every 5 ms; max in the p95 column) | ${fmt(report.propagation.median)} | ${fmt(report.propagation.max)} |`,
  ];
  console.log(lines.join('\n'));
  mkdirSync(resolve(REPO, 'bench/results'), { recursive: true });
  writeFileSync(resolve(REPO, 'bench/results/core.json'), JSON.stringify({ ...report, samples: { overlay, bridge, convergence: conv, propagation: prop } }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
