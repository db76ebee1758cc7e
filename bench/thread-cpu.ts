/**
 * Which threads of the machine held its CPUs during a phase, window by window: the question a
 * plugin's profile cannot answer when its main thread "was not run" (bench/profile-windows.ts).
 * A sampler reads every thread's scheduler statistics (/proc/PID/task/TID/schedstat: the time
 * it ran and the time it waited for a CPU, in ns) every INTERVAL_MS; a summary lines them up
 * with a phase's timeline (BENCH_TIMELINE=DIR of bench/stack-floor.ts or bench/control-plane.ts).
 *
 *   node --import tsx bench/thread-cpu.ts sample FILE [INTERVAL_MS=100] &   # until killed (its
 *                                                   # pid is $!), or its parent goes away
 *   npx tsx bench/thread-cpu.ts summary FILE TIMELINE_DIR/PHASE [WINDOW_MS=250] [WINDOWS=16]
 *
 * The sampler's own reads cost about 5 % of a CPU at 100 ms here (its row in the summary),
 * alike for whatever runs beside it. A thread's time before its first sample, and processes
 * that start and end between two samples, are not seen. Threads are grouped by their process,
 * told by its command line (each server by its host), and within a server by main thread and
 * the rest (V8's compiler and GC helpers, libuv's pool).
 */
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readPhase } from './timeline-windows.js';

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

/**
 * A process as the sampler knows it: its pid with its start time (pids are reused) and its
 * name (a child that has forked but not yet exec'd still shows its parent's command line, and
 * is told again once its name changes). From /proc/PID/stat: the name in brackets, the start
 * time the 20th field after them.
 */
function identity(pid: number): string | undefined {
  const stat = readOr(`/proc/${pid}/stat`);
  if (!stat) return undefined;
  const close = stat.lastIndexOf(')');
  const comm = stat.slice(stat.indexOf('(') + 1, close);
  const startTime = stat.slice(close + 2).split(' ')[19];
  return `${startTime} ${comm}`;
}

function sample(file: string, intervalMs: number): void {
  writeFileSync(file, '');
  const known = new Map<number, string>(); // pid -> identity when last classified
  const lastRun = new Map<string, number>();
  const parent = process.ppid;
  const tick = () => {
    // Started in the background by a shell or a wrapper that has gone: nobody will stop it.
    if (process.ppid !== parent) process.exit(0);
    const t = monotonicUs();
    const lines: string[] = [];
    for (const p of readdirSync('/proc')) {
      const pid = Number(p);
      if (!Number.isInteger(pid)) continue;
      const id = identity(pid);
      if (id === undefined) continue;
      if (known.get(pid) !== id) {
        known.set(pid, id);
        const comm = id.slice(id.indexOf(' ') + 1);
        const kind = processKind((readOr(`/proc/${pid}/cmdline`) ?? '').replaceAll('\0', ' '), comm);
        lines.push(`P\t${t}\t${pid}\t${kind}`);
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
  /** The process as the sampler last told it, and which one of that pid (pids are reused). */
  readonly kind: string;
  readonly process: number;
  readonly pid: number;
  readonly tid: number;
  readonly runNs: number;
  readonly waitNs: number;
}

/** Per window and group: ms on a CPU, and (main threads) ms runnable but waiting for one. */
export function windowTotals(samples: readonly ThreadSample[], fromUs: number, windowMs: number, windows: number): Array<Map<string, { runMs: number; waitMs: number }>> {
  const out = Array.from({ length: windows }, () => new Map<string, { runMs: number; waitMs: number }>());
  const prev = new Map<string, ThreadSample>();
  for (const s of samples) {
    const key = `${s.process}/${s.tid}`;
    const before = prev.get(key);
    prev.set(key, s);
    // A thread's first sample: its time so far belongs to no window.
    if (!before || s.runNs < before.runNs) continue;
    // The time between two samples goes to the window of the later one: a sampling interval
    // well under the window keeps that close.
    const w = Math.floor((s.t - fromUs) / 1000 / windowMs);
    if (w < 0 || w >= windows) continue;
    const group = s.kind.startsWith('server') ? `${s.kind} ${s.tid === s.pid ? 'main' : 'helpers'}` : s.kind;
    const g = out[w]!.get(group) ?? { runMs: 0, waitMs: 0 };
    g.runMs += (s.runNs - before.runNs) / 1e6;
    g.waitMs += (s.waitNs - before.waitNs) / 1e6;
    out[w]!.set(group, g);
  }
  return out;
}

/** The sampler's lines, in order: "P t pid kind" when it (re)tells a process, "T t pid tid runNs waitNs". */
export function parseSamples(text: string): ThreadSample[] {
  const samples: ThreadSample[] = [];
  const processes = new Map<number, { kind: string; process: number }>();
  let told = 0;
  for (const line of text.split('\n')) {
    const f = line.split('\t');
    if (f[0] === 'P') processes.set(Number(f[2]), { kind: f[3]!, process: ++told });
    else if (f[0] === 'T') {
      const pid = Number(f[2]);
      const p = processes.get(pid) ?? { kind: 'other', process: 0 };
      samples.push({ t: Number(f[1]), ...p, pid, tid: Number(f[3]), runNs: Number(f[4]), waitNs: Number(f[5]) });
    }
  }
  return samples;
}

function summary(file: string, phase: string, windowMs: number, maxWindows: number): void {
  const { originUs: fromUs, lengthMs } = readPhase(phase);
  // The phase's whole windows, up to its last call's answer, at most maxWindows.
  const windows = Math.max(1, Math.min(maxWindows, Math.floor(lengthMs / windowMs)));
  const totals = windowTotals(parseSamples(readFileSync(file, 'utf8')), fromUs, windowMs, windows);
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
  if (mode === 'sample' && file) sample(file, Number(a ?? 100));
  else if (mode === 'summary' && file && a) summary(file, a, Number(b ?? 250), Number(c ?? 16));
  else throw new Error('usage: npx tsx bench/thread-cpu.ts sample FILE [INTERVAL_MS] | summary FILE TIMELINE_DIR/PHASE [WINDOW_MS] [WINDOWS]');
}
