/**
 * How long a process's event loop stood still: loaded into a plugin or floor server with node's
 * `--import` (e.g. `BENCH_NODE_ARGS="--max-semi-space-size=4 --heap-growing-percent=30 --import
 * ./bench/loop-stalls.mjs"` for bench/stack-floor.ts), it arms a 2 ms timer again and again and
 * notes every time it fired more than 3 ms late, which is how long nothing ran on the loop: a
 * long turn, a GC pause, or the thread not given a CPU. The notes go, twice a second, to
 * LOOP_STALLS_DIR (default /tmp/loop-stalls)/PID.txt as "MONOTONIC_US LATE_MS" lines, the same
 * clock as the benchmarks' timelines; bench/loop-stalls-summary.ts reads them per phase.
 * Plain JavaScript: the plugin runs from tsc's output, without tsx.
 */
import { appendFileSync, mkdirSync } from 'node:fs';

const DIR = process.env.LOOP_STALLS_DIR ?? '/tmp/loop-stalls';
const PERIOD_MS = 2;
const NOTED_MS = 3;

mkdirSync(DIR, { recursive: true });
/** CLOCK_MONOTONIC in µs at performance.now() = 0. */
const origin = Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000;
let last = performance.now();
let lines = [];

function tick() {
  const now = performance.now();
  const late = now - last - PERIOD_MS;
  if (late > NOTED_MS) lines.push(`${Math.round(origin + now * 1000)} ${late.toFixed(1)}`);
  last = now;
  setTimeout(tick, PERIOD_MS).unref();
}
setTimeout(tick, PERIOD_MS).unref();
setInterval(() => {
  if (lines.length === 0) return;
  appendFileSync(`${DIR}/${process.pid}.txt`, `${lines.join('\n')}\n`);
  lines = [];
}, 500).unref();
