/**
 * Whether node's own event-loop delay figures see a stalled loop: the loop is held up for
 * 120 ms by a busy wait, then what perf_hooks.monitorEventLoopDelay recorded is printed, at
 * three resolutions. prom-client's `nodejs_eventloop_lag_*` metrics, which the plugin exports,
 * are read from it; bench/plugin-counters.ts does not use them because on node 20 the largest
 * delay recorded stayed at about the resolution (docs/performance-notes.md).
 *
 *   npx tsx bench/event-loop-delay.ts
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const BLOCK_MS = 120;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

console.log(`node ${process.version}: the loop held up for ${BLOCK_MS} ms`);
for (const resolution of [1, 10, 20]) {
  const delay = monitorEventLoopDelay({ resolution });
  delay.enable();
  await sleep(100);
  delay.reset();
  const until = Date.now() + BLOCK_MS;
  while (Date.now() < until); // the stall
  await sleep(200);
  delay.disable();
  console.log(`resolution ${resolution} ms: largest delay recorded ${(delay.max / 1e6).toFixed(1)} ms (${delay.count} samples)`);
}
