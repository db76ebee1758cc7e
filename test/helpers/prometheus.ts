/** The Prometheus text reader the benchmarks use (bench/prometheus.ts), for checking what ts-overlay exposes. */
import { parsePrometheus, type Sample } from '../../bench/prometheus.js';

export type { Sample };
export const parseExposition = parsePrometheus;

/** The value of the one sample with this name and (at least) these labels; undefined if none. */
export function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}
