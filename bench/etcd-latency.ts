/**
 * The floor under every call that writes to etcd: how long one transaction and one read take
 * through the plugin's own store layer (src/store/etcd-kv.ts: etcd3, gRPC, the fault policies),
 * one after the other, on an idle lab etcd. An engine sends RequestAddress and CreateEndpoint
 * one after the other on a network (bench/control-plane.ts, EngineNetworkLock), and each is one
 * such transaction: this is what bounds the allocations per second of one engine.
 *   TSO_TEST_ID=3 npx tsx bench/etcd-latency.ts   (BENCH_ETCD_CALLS: 500 of each; BENCH_ETCD_PAUSE_MS: 0)
 * It brings up its own lab (TSO_LAB, default etl; etcd only, no engine used) and takes it
 * down; the measuring runs in the lab's host namespace, where etcd is reachable.
 */
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { silentLogger } from '../src/lib/logger.js';
import { EtcdKv } from '../src/store/etcd-kv.js';
import { median, percentile } from './stats.js';

const LAB = process.env.TSO_LAB ?? `etl${process.env.TSO_TEST_ID ?? ''}`;
const CALLS = Number(process.env.BENCH_ETCD_CALLS ?? 500);
/** A pause between calls (ms): back to back, etcd and the client never go idle. */
const PAUSE_MS = Number(process.env.BENCH_ETCD_PAUSE_MS ?? 0);
const REPO = resolve(import.meta.dirname, '..');

async function probe(): Promise<void> {
  const kv = new EtcdKv({ endpoints: ['http://198.18.0.2:2379'], prefix: '/etcd-latency/', callTimeoutMs: 5000 }, silentLogger);
  const value = { ip: '10.0.0.2', kind: 'endpoint', node: 'h1', claimedAt: new Date().toISOString() }; // a claim's size
  await kv.get('warm-up');
  const timed = async (call: (i: number) => Promise<unknown>) => {
    const ms: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const started = performance.now();
      await call(i);
      ms.push(performance.now() - started);
      if (PAUSE_MS > 0) await new Promise((r) => setTimeout(r, PAUSE_MS));
    }
    return `p50 ${median(ms).toFixed(2)} ms, p99 ${percentile(ms, 99).toFixed(2)} ms`;
  };
  const txn = await timed((i) => kv.txn({ compare: [{ key: `k${i}`, modRevision: 0 }], put: [[`k${i}`, value]] }));
  const read = await timed((i) => kv.get(`k${i}`));
  const how = PAUSE_MS > 0 ? `one after the other, ${PAUSE_MS} ms apart` : 'back to back';
  console.log(`${CALLS} transactions ${how} (create a key if absent, as an address claim): ${txn}`);
  console.log(`${CALLS} reads ${how}: ${read}`);
  kv.close();
}

function main(): void {
  const lab = (...args: string[]) => execFileSync('bash', [resolve(REPO, 'scripts/lab'), ...args], { env: { ...process.env, TSO_LAB: LAB }, stdio: ['ignore', 'ignore', 'inherit'] });
  lab('up', '--hosts', '1', '--no-plugin');
  try {
    execFileSync('ip', ['netns', 'exec', `${LAB}-h1`, process.execPath, '--import', 'tsx', resolve(REPO, 'bench/etcd-latency.ts'), '--probe'], { stdio: 'inherit', cwd: REPO });
  } finally {
    lab('down');
  }
}

if (process.argv.includes('--probe')) void probe();
else main();
