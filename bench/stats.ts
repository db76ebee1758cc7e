/** Order statistics for benchmark samples (nearest-rank percentiles). */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const median = (s: readonly number[]) => percentile(s, 50);

/** The items starting at index `start` (wrapping round): the order of one repeat's measurements. */
export const rotated = <T>(items: readonly T[], start: number): T[] =>
  items.map((_, i) => items[(i + start) % items.length]!);

export const fmt = (ms: number) => (Number.isFinite(ms) ? `${ms.toFixed(0)} ms` : 'n/a');
