/**
 * Which threads of the machine held its CPUs during a phase, window by window: the question a
 * plugin's profile cannot answer when its main thread "was not run" (bench/profile-windows.ts).
 * A sampler reads every thread's scheduler statistics (/proc/PID/task/TID/schedstat: the time
 * it ran and the time it waited for a CPU, in ns) every INTERVAL_MS; a summary lines them up
 * with a phase's timeline (BENCH_TIMELINE=DIR of bench/stack-floor.ts or bench/control-plane.ts).
 *
 *   npx tsx bench/thread-cpu.ts sample FILE [INTERVAL_MS=50]     # until SIGINT/SIGTERM
 *   npx tsx bench/thread-cpu.ts summary FILE TIMELINE_DIR/PHASE [WINDOW_MS=250] [WINDOWS=8]
 *
 * The sampler's own reads cost a few percent of a CPU, the same for whatever runs beside it.
 * Threads are grouped by their process, told by its command line (each server by its host),
 * and within a server by main thread and the rest (V8's compiler and GC helpers, libuv's pool).
 */
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';

/** CLOCK_MONOTONIC now, in µs: the clock of the timelines' origin.json. */
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

function readOr(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // ended since the listing
  }
}

/** What a process is, from its command line: the names the summary groups by. */
export function processKind(cmdline: string, comm: string): string {
  const host = /--node-name h(\d+)\b/.exec(cmdline)?.[1] ?? /\/h(\d+)\/bench\.sock\b/.exec(cmdline)?.[1];
  if (/stack-floor-server/.test(cmdline)) return `server h${host ?? '?'} (floor)`;
  if (/dist\/main\.js\b.*\bserve\b/.test(cmdline)) return `server h${host ?? '?'} (ts-overlay)`;
  if (/bench\/(stack-floor|control-plane)\.ts/.test(cmdline)) return 'load generator';
  if (/thread-cpu\.ts/.test(cmdline)) return 'this sampler';
  if (comm === 'etcd') return 'etcd';
  if (comm === 'ip' || comm === 'bridge') return `${comm} processes`;
  if (comm === 'iptables' || comm.startsWith('xtables')) return 'iptables';
  return comm.startsWith('kworker') || comm.startsWith('ksoftirq') || comm.startsWith('rcu') ? 'kernel threads' : 'other';
}

function sample(file: string, intervalMs: number): void {
  writeFileSync(file, '');
  const known = new Map<number, string>(); // pid -> kind, noted once per process
  const lastRun = new Map<string, number>();
  const tick = () => {
    const t = monotonicUs();
    const lines: string[] = [];
    for (const p of readdirSync('/proc')) {
      const pid = Number(p);
      if (!Number.isInteger(pid)) continue;
      if (!known.has(pid)) {
        const comm = readOr(`/proc/${pid}/comm`)?.trim() ?? '';
        const kind = processKind((readOr(`/proc/${pid}/cmdline`) ?? '').replaceAll('\0', ' '), comm);
        known.set(pid, kind);
        lines.push(`P\t${pid}\t${kind}`);
      }
      let tids: string[];
      try {
        tids = readdirSync(`/proc/${pid}/task`);
      } catch {
        continue;
      }
      for (const tid of tids) {
        const stat = readOr(`/proc/${pid}/task/${tid}/schedstat`);
        if (!stat) continue;
        const [run, wait] = stat.split(' ').map(Number) as [number, number];
        const key = `${pid}/${tid}`;
        if (lastRun.get(key) === run + wait) continue; // nothing new: no line
        lastRun.set(key, run + wait);
        lines.push(`T\t${t}\t${pid}\t${tid}\t${run}\t${wait}`);
      }
    }
    appendFileSync(file, lines.length ? `${lines.join('\n')}\n` : '');
  };
  const timer = setInterval(tick, intervalMs);
  const stop = () => {
    clearInterval(timer);
    tick();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  tick();
}

export interface ThreadSample {
  readonly t: number; // µs, monotonic
  readonly pid: number;
  readonly tid: number;
  readonly runNs: number;
  readonly waitNs: number;
}

/** Per window and group: ms on a CPU, and (main threads) ms runnable but waiting for one. */
export function windowTotals(samples: readonly ThreadSample[], kinds: ReadonlyMap<number, string>, fromUs: number, windowMs: number, windows: number): Array<Map<string, { runMs: number; waitMs: number }>> {
  const out = Array.from({ length: windows }, () => new Map<string, { runMs: number; waitMs: number }>());
  const prev = new Map<string, ThreadSample>();
  for (const s of samples) {
    const key = `${s.pid}/${s.tid}`;
    const before = prev.get(key);
    prev.set(key, s);
    if (!before) continue; // a thread's first sample: its time so far belongs to no window
    // The time between two samples goes to the window of the later one: a sampling interval
    // well under the window keeps that close.
    const w = Math.floor((s.t - fromUs) / 1000 / windowMs);
    if (w < 0 || w >= windows) continue;
    const kind = kinds.get(s.pid) ?? 'other';
    const group = kind.startsWith('server') ? `${kind} ${s.tid === s.pid ? 'main' : 'helpers'}` : kind;
    const g = out[w]!.get(group) ?? { runMs: 0, waitMs: 0 };
    g.runMs += (s.runNs - before.runNs) / 1e6;
    g.waitMs += (s.waitNs - before.waitNs) / 1e6;
    out[w]!.set(group, g);
  }
  return out;
}

export function parseSamples(text: string): { samples: ThreadSample[]; kinds: Map<number, string> } {
  const samples: ThreadSample[] = [];
  const kinds = new Map<number, string>();
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'P') kinds.set(Number(f[1]), f[2]!);
    else if (f[0] === 'T') samples.push({ t: Number(f[1]), pid: Number(f[2]), tid: Number(f[3]), runNs: Number(f[4]), waitNs: Number(f[5]) });
  }
  return { samples, kinds };
}

function summary(file: string, phase: string, windowMs: number, windows: number): void {
  const { monotonicUs: fromUs } = JSON.parse(readFileSync(`${phase}.origin.json`, 'utf8')) as { monotonicUs: number };
  const { samples, kinds } = parseSamples(readFileSync(file, 'utf8'));
  const totals = windowTotals(samples, kinds, fromUs, windowMs, windows);
  const groups = [...new Set(totals.flatMap((w) => [...w.keys()]))].sort();
  const cell = (w: Map<string, { runMs: number; waitMs: number }>, g: string) => {
    const v = w.get(g);
    if (!v) return '0';
    return g.endsWith(' main') ? `${v.runMs.toFixed(0)} (${v.waitMs.toFixed(0)})` : v.runMs.toFixed(0);
  };
  console.log(`ms on a CPU per ${windowMs} ms window from the phase's start (two CPUs: ${2 * windowMs} ms at most); a server's main thread also with, in brackets, the ms it waited for a CPU`);
  // The mean window: what the phase did on average, beside what each window did.
  const mean = new Map<string, { runMs: number; waitMs: number }>();
  for (const w of totals) {
    for (const [g, v] of w) {
      const m = mean.get(g) ?? { runMs: 0, waitMs: 0 };
      mean.set(g, { runMs: m.runMs + v.runMs / totals.length, waitMs: m.waitMs + v.waitMs / totals.length });
    }
  }
  const all = (w: Map<string, { runMs: number; waitMs: number }>) => [...w.values()].reduce((a, v) => a + v.runMs, 0).toFixed(0);
  console.log(`\n| group | mean | ${totals.map((_, i) => `${i * windowMs}`).join(' | ')} |`);
  console.log(`|---|---|${totals.map(() => '---').join('|')}|`);
  for (const g of groups) console.log(`| ${g} | ${cell(mean, g)} | ${totals.map((w) => cell(w, g)).join(' | ')} |`);
  console.log(`| all | ${all(mean)} | ${totals.map(all).join(' | ')} |`);
}

if (process.argv[1]?.endsWith('thread-cpu.ts')) {
  const [mode, file, a, b, c] = process.argv.slice(2);
  if (mode === 'sample' && file) sample(file, Number(a ?? 50));
  else if (mode === 'summary' && file && a) summary(file, a, Number(b ?? 250), Number(c ?? 8));
  else throw new Error('usage: npx tsx bench/thread-cpu.ts sample FILE [INTERVAL_MS] | summary FILE TIMELINE_DIR/PHASE [WINDOW_MS] [WINDOWS]');
}
