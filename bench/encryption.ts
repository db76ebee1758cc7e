/**
 * What `-o encrypted=true` costs in throughput: iperf3 (TCP, one stream) from a container on
 * host 1 to one on host 2, over an encrypted and a plain ts-overlay network in the same lab,
 * alternating so that the machine's noise hits both alike. Only the ratio means something.
 * Run by bench/encryption.sh (which brings the lab up); prints a Markdown table and writes
 * encryption.json to BENCH_RESULTS_DIR (default bench/results).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { resolve } from 'node:path';
import { median } from './stats.js';

const REPO = resolve(import.meta.dirname, '..');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const docker = (host: number, ...args: string[]) =>
  execFileSync('bash', [resolve(REPO, 'scripts/lab'), 'docker', String(host), ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).trim();

const NETWORKS = { encrypted: ['-o', 'encrypted=true', '--subnet', '10.201.0.0/24'], plain: ['--subnet', '10.202.0.0/24'] } as const;
type Kind = keyof typeof NETWORKS;

async function waitForNetwork(name: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (docker(2, 'network', 'ls', '--format', '{{.Name}}').split('\n').includes(name)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`network ${name} did not reach host 2`);
}

function iperf(kind: Kind, server: string): { bitsPerSecond: number; retransmits: number } {
  const out = docker(1, 'run', '--rm', '--net', `bench-${kind}`, 'iperf3:local', 'iperf3', '-c', server, '-t', String(SECONDS), '-J');
  const result = JSON.parse(out) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
  return { bitsPerSecond: result.end.sum_received.bits_per_second, retransmits: result.end.sum_sent.retransmits ?? 0 };
}

async function main() {
  const servers = {} as Record<Kind, string>;
  for (const kind of Object.keys(NETWORKS) as Kind[]) {
    docker(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', ...NETWORKS[kind], `bench-${kind}`);
    await waitForNetwork(`bench-${kind}`);
    docker(2, 'run', '-d', '--name', `iperf-${kind}`, '--net', `bench-${kind}`, 'iperf3:local', 'iperf3', '-s');
    servers[kind] = docker(2, 'inspect', '-f', `{{(index .NetworkSettings.Networks "bench-${kind}").IPAddress}}`, `iperf-${kind}`);
  }
  await new Promise((r) => setTimeout(r, 1000)); // servers listening
  const samples: Record<Kind, Array<{ bitsPerSecond: number; retransmits: number }>> = { encrypted: [], plain: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const kind of ['plain', 'encrypted'] as const) samples[kind].push(iperf(kind, servers[kind]));
  }
  const gbit = (kind: Kind) => median(samples[kind].map((s) => s.bitsPerSecond)) / 1e9;
  const report = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length },
    runs: RUNS,
    secondsPerRun: SECONDS,
    plainGbitPerSecond: gbit('plain'),
    encryptedGbitPerSecond: gbit('encrypted'),
    ratio: gbit('encrypted') / gbit('plain'),
    samples,
  };
  console.log([
    `| iperf3 container to container across hosts (${RUNS} x ${SECONDS} s each, interleaved, one lab, ${report.machine.cpus} cores) | median |`,
    '|---|---|',
    `| plain ts-overlay network | ${report.plainGbitPerSecond.toFixed(2)} Gbit/s |`,
    `| \`-o encrypted=true\` network | ${report.encryptedGbitPerSecond.toFixed(3)} Gbit/s |`,
    `| ratio encrypted / plain | ${(report.ratio * 100).toFixed(1)} % |`,
  ].join('\n'));
  const dir = process.env.BENCH_RESULTS_DIR ?? resolve(REPO, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(resolve(dir, 'encryption.json'), JSON.stringify(report, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
