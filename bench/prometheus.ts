/**
 * A reader for the Prometheus text format (etcd's and the plugin's /metrics): `name{label="value",...}
 * value` lines, comments skipped, a line it cannot read refused. The benchmarks read counters
 * with it, and the tests what ts-overlay exposes (test/helpers/prometheus.ts).
 */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
const SPECIAL: Readonly<Record<string, number>> = { '+Inf': Infinity, '-Inf': -Infinity, NaN: NaN };

export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: SPECIAL[m[3]!] ?? Number(m[3]) });
  }
  return samples;
}

/** The samples of a metric whose labels include `where`. */
const matching = (samples: readonly Sample[], name: string, where: Readonly<Record<string, string>>) =>
  samples.filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v));

/** The sum of a metric's samples whose labels include `where`; NaN when it has none (not exposed: not zero). */
export function total(samples: readonly Sample[], name: string, where: Readonly<Record<string, string>> = {}): number {
  const found = matching(samples, name, where);
  return found.length === 0 ? NaN : found.reduce((sum, s) => sum + s.value, 0);
}

/**
 * A histogram's cumulative counts by upper bound (le, in the metric's unit), summed over its
 * other labels when they include `where`; empty when it has no such series yet.
 */
export function histogram(samples: readonly Sample[], name: string, where: Readonly<Record<string, string>> = {}): Map<number, number> {
  const buckets = new Map<number, number>();
  for (const s of matching(samples, `${name}_bucket`, where)) {
    const le = SPECIAL[s.labels.le ?? ''] ?? Number(s.labels.le);
    buckets.set(le, (buckets.get(le) ?? 0) + s.value);
  }
  return buckets;
}
