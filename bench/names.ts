/**
 * Name propagation across hosts (issue 7), in the e2e lab's engines (`npm run bench:names`
 * brings the lab up if needed):
 *  1. appear: from `docker run -d --name X` returning on host 1 until X resolves from a
 *     container on host 2, asked through that container's own resolver (the engine's embedded
 *     127.0.0.11, which forwards to ts-overlay's responder) every 5 ms;
 *  2. vanish: from `docker rm -f X` returning on host 1 until X no longer resolves there.
 * A name nobody has is forwarded upstream; the lab's upstream (198.18.0.2) runs the tests' own
 * DNS server during the run, so that "no such name" comes back at once (with nothing
 * listening, the refusals are ICMP errors the kernel rate-limits, and many queries would wait
 * for the forwarder's timeout instead, which measures the rate limit, not the names).
 * Prints a Markdown table and writes names.json to BENCH_RESULTS_DIR (default bench/results).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { resolve } from 'node:path';
import { dockerOk, E2E_LAB, networkNames, REPO, resetLab, runBusybox, waitFor } from '../test/helpers/lab.js';
import { fmt, median, percentile } from './stats.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 20);

/**
 * Starts the probe in the querier's namespace; resolves once it is asking, with a promise of
 * the time it saw the change (wrapped: an async function would otherwise wait for it).
 */
async function probe(pid: string, name: string, mode: 'appear' | 'vanish'): Promise<{ seen: Promise<number | undefined> }> {
  const child = spawn('nsenter', ['-t', pid, '-n', process.execPath, resolve(REPO, 'bench/dns-probe.mjs'), '127.0.0.11', name, mode], { stdio: ['ignore', 'pipe', 'ignore'] });
  let out = '';
  let markReady = () => {};
  const ready = new Promise<void>((r) => (markReady = r));
  const seen = new Promise<number | undefined>((done) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) markReady();
      const m = /at (\d+)/.exec(out);
      if (m) done(Number(m[1]));
    });
    child.on('exit', () => {
      markReady();
      done(undefined);
    });
  });
  await ready;
  return { seen };
}

/** The tests' DNS server in the lab's underlay namespace, on the plugins' --dns-upstream. */
async function startUpstream() {
  const server = spawn('ip', ['netns', 'exec', `${E2E_LAB}-ul`, resolve(REPO, 'node_modules/.bin/tsx'), resolve(REPO, 'test/helpers/tiny-dns-server.ts'), '198.18.0.2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((ok, fail) => {
    server.stdout.on('data', (d: Buffer) => d.toString().includes('listening') && ok());
    server.on('exit', (code) => fail(new Error(`the DNS server exited (${code})`)));
  });
  return server;
}

async function main() {
  const upstream = await startUpstream();
  await resetLab();
  await dockerOk(1, 'network', 'create', '-d', 'ts-overlay', '--ipam-driver', 'ts-overlay', '--subnet', '10.94.0.0/24', 'bnames');
  await waitFor('bnames on host 2', async () => (await networkNames(2)).includes('bnames'));
  await runBusybox(2, 'asker', '--net', 'bnames');
  const pid = await dockerOk(2, 'inspect', '-f', '{{.State.Pid}}', 'asker');
  await runBusybox(1, 'warm', '--net', 'bnames'); // first use pays one-off costs

  const appear: number[] = [];
  const vanish: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const name = `bn${i}`;
    const { seen } = await probe(pid, name, 'appear');
    await dockerOk(1, 'run', '-d', '--name', name, '--net', 'bnames', 'busybox', 'sleep', '3600');
    const returned = Date.now();
    const at = await seen;
    if (at !== undefined) appear.push(at - returned);

    const { seen: gone } = await probe(pid, name, 'vanish');
    await dockerOk(1, 'rm', '-f', name);
    const removed = Date.now();
    const goneAt = await gone;
    if (goneAt !== undefined) vanish.push(goneAt - removed);
  }
  await resetLab();
  upstream.kill();

  const report = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30) },
    runs: RUNS,
    appear: { median: median(appear), p95: percentile(appear, 95), max: Math.max(...appear), samples: appear.length },
    vanish: { median: median(vanish), p95: percentile(vanish, 95), max: Math.max(...vanish), samples: vanish.length },
  };
  console.log([
    `| names across hosts (${RUNS} runs, one lab, ${report.machine.cpus} cores; negative = before the command returned) | median | p95 |`,
    '|---|---|---|',
    `| appear: \`docker run -d\` returns on host 1 -> the name resolves in a container on host 2 (${appear.length} samples) | ${fmt(report.appear.median)} | ${fmt(report.appear.p95)} |`,
    `| vanish: \`docker rm -f\` returns on host 1 -> the name no longer resolves on host 2 (${vanish.length} samples) | ${fmt(report.vanish.median)} | ${fmt(report.vanish.p95)} |`,
  ].join('\n'));
  const dir = process.env.BENCH_RESULTS_DIR ?? resolve(REPO, 'bench/results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(resolve(dir, 'names.json'), JSON.stringify({ ...report, samples: { appear, vanish } }, null, 2));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
