/**
 * The event-loop stalls that bench/loop-stalls.mjs noted, per phase of a benchmark's timeline
 * and per process: how many stalls were over 20 and over 50 ms, and the longest. Run a
 * benchmark with both, e.g.
 *   LOOP_STALLS_DIR=/tmp/stalls BENCH_TIMELINE=/tmp/tl BENCH_NODE_ARGS="--max-semi-space-size=4
 *     --heap-growing-percent=30 --import ./bench/loop-stalls.mjs" npx tsx bench/stack-floor.ts
 * then
 *   npx tsx bench/loop-stalls-summary.ts /tmp/stalls /tmp/tl
 * A process counts for a phase when it noted a stall between the phase's start and its last
 * call's answer (every process of these servers notes some under load; an idle one none).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { readPhase } from './timeline-windows.js';

export interface Stall {
  readonly atUs: number; // CLOCK_MONOTONIC, when the late timer fired
  readonly lateMs: number;
}

export interface StallSummary {
  readonly stalls: number;
  readonly over20: number;
  readonly over50: number;
  readonly longestMs: number;
}

export function parseStalls(text: string): Stall[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [at, late] = line.split(' ').map(Number);
      if (!Number.isFinite(at) || !Number.isFinite(late)) throw new Error(`not a loop-stalls line: "${line}"`);
      return { atUs: at!, lateMs: late! };
    });
}

/** The stalls that ended within [fromUs, toUs], summed up; undefined when there were none. */
export function summarize(stalls: readonly Stall[], fromUs: number, toUs: number): StallSummary | undefined {
  const within = stalls.filter((s) => s.atUs >= fromUs && s.atUs <= toUs).map((s) => s.lateMs);
  if (within.length === 0) return undefined;
  return {
    stalls: within.length,
    over20: within.filter((ms) => ms > 20).length,
    over50: within.filter((ms) => ms > 50).length,
    longestMs: Math.max(...within),
  };
}

function main(stallsDir: string, timelineDir: string): void {
  const processes = readdirSync(stallsDir)
    .filter((f) => f.endsWith('.txt'))
    .map((f) => ({ pid: basename(f, '.txt'), stalls: parseStalls(readFileSync(resolve(stallsDir, f), 'utf8')) }));
  console.log('| phase | process | stalls over 3 ms | over 20 ms | over 50 ms | longest (ms) |\n|---|---|---|---|---|---|');
  for (const file of readdirSync(timelineDir).filter((f) => f.endsWith('.tsv')).sort()) {
    const phase = basename(file, '.tsv');
    const { originUs: fromUs, lengthMs } = readPhase(resolve(timelineDir, phase));
    const toUs = fromUs + lengthMs * 1000;
    for (const p of processes) {
      const s = summarize(p.stalls, fromUs, toUs);
      if (s) console.log(`| ${phase} | ${p.pid} | ${s.stalls} | ${s.over20} | ${s.over50} | ${s.longestMs.toFixed(0)} |`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [stallsDir, timelineDir] = process.argv.slice(2);
  if (!stallsDir || !timelineDir) throw new Error('usage: npx tsx bench/loop-stalls-summary.ts STALLS_DIR TIMELINE_DIR');
  main(stallsDir, timelineDir);
}
