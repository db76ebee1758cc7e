/**
 * How often a throughput ratio taken from a median of N repeats reads under a line when nothing
 * differs but the machine's noise: from a namespace-cost.json (bench/namespace-cost.ts, every
 * path in every repeat), the repeats of two paths are drawn N at a time with replacement, as
 * pairs (one repeat gives both paths' figures), in every possible way, and the ratio of their
 * medians is taken, as bench/compare.ts takes its targets' ratios. This is what decided how many
 * repeats bench/compare.ts makes.
 *
 *   npx tsx bench/median-spread.ts namespace-cost.json tsContainer tsDeviceEngineRules [LINE]
 *
 * LINE defaults to 0.95, the throughput target's.
 */
import { readFileSync } from 'node:fs';
import { median } from './stats.js';

/** Every ordered draw of `n` of `count` indexes with replacement (count^n of them). */
function* draws(count: number, n: number): Generator<number[]> {
  const idx = new Array<number>(n).fill(0);
  for (;;) {
    yield idx;
    let i = n - 1;
    while (i >= 0 && ++idx[i]! === count) idx[i--] = 0;
    if (i < 0) return;
  }
}

/** Share of the draws of `n` repeats whose ratio of medians a/b is under `line`. */
export function shareUnder(a: readonly number[], b: readonly number[], n: number, line: number): number {
  let under = 0;
  let all = 0;
  for (const d of draws(a.length, n)) {
    all++;
    if (median(d.map((i) => a[i]!)) / median(d.map((i) => b[i]!)) < line) under++;
  }
  return under / all;
}

function main(): void {
  const [file, pathA, pathB, lineArg] = process.argv.slice(2);
  if (!file || !pathA || !pathB) throw new Error('usage: npx tsx bench/median-spread.ts namespace-cost.json PATH_A PATH_B [LINE]');
  const line = Number(lineArg ?? 0.95);
  const rows = (JSON.parse(readFileSync(file, 'utf8')) as { rows: Array<{ path: string; samples: number[] }> }).rows;
  const samples = (path: string) => {
    const row = rows.find((r) => r.path === path);
    if (!row) throw new Error(`no path ${path} in ${file} (it has ${rows.map((r) => r.path).join(', ')})`);
    return row.samples;
  };
  // A repeat where either path failed (NaN) is left out of both.
  const [a, b] = [samples(pathA), samples(pathB)];
  const kept = a.map((_, i) => i).filter((i) => Number.isFinite(a[i]) && Number.isFinite(b[i]));
  const [ka, kb] = [kept.map((i) => a[i]!), kept.map((i) => b[i]!)];
  const ratios = ka.map((x, i) => x / kb[i]!);
  console.log(`${pathA} / ${pathB}, ${kept.length} repeats: per-repeat ratios ${ratios.map((r) => r.toFixed(3)).join(' ')}; median of the ratios ${median(ratios).toFixed(3)}, ratio of the medians ${(median(ka) / median(kb)).toFixed(3)}`);
  for (const n of [1, 3, 5]) {
    console.log(`a median of ${n} repeat(s) reads under ${line}x in ${(100 * shareUnder(ka, kb, n, line)).toFixed(1)} % of the ${kept.length}^${n} draws`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
