/**
 * Where in a phase its slow calls were: a timeline that bench/control-plane.ts or
 * bench/stack-floor.ts wrote (BENCH_TIMELINE=DIR, one PHASE.tsv per phase: writeTimeline) cut
 * into windows, per host, with how many calls started in each window and how many of them took
 * longer than a bound, by method. Slow calls
 * of every method at once in one window say the plugin's event loop stood still (RequestAddress
 * answers from memory); slow Joins alone, that they waited for something of their own (their
 * endpoint's etcd transaction, or `ip`). Then the whole phase by method: how many calls opened
 * a connection of their own (the client found all of its connections busy), how many were over
 * the bound and how many of those had opened one, and in the first window the calls, the
 * connections they opened and their mean latency.
 *   npx tsx bench/timeline-windows.ts DIR/all-at-once.tsv [WINDOW_MS=250] [OVER_MS=60]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PluginApi } from './plugin-api.js';

export interface TimelineCall {
  readonly host: number;
  readonly method: string;
  readonly startMs: number;
  readonly ms: number;
  /** The call found every connection of its client busy and opened one of its own. */
  readonly newConnection: boolean;
}

export interface TimelineWindow {
  readonly host: number;
  readonly fromMs: number;
  readonly calls: number;
  /** Calls over the bound, by method (short names: the part after the dot). */
  readonly slow: Readonly<Record<string, number>>;
  readonly slowestMs: number;
}

export function parseTimeline(text: string): TimelineCall[] {
  const [header, ...lines] = text.trim().split('\n');
  if (header !== 'host\tmethod\tstartMs\tms\tnewConnection') throw new Error(`not a control-plane timeline (its header: "${header}")`);
  return lines.map((line) => {
    const [host, method, startMs, ms, opened] = line.split('\t');
    const call = { host: Number(host), method: method!, startMs: Number(startMs), ms: Number(ms), newConnection: opened === '1' };
    if (!Number.isInteger(call.host) || !call.method || !Number.isFinite(call.startMs) || !Number.isFinite(call.ms) || (opened !== '0' && opened !== '1')) throw new Error(`not a timeline line: "${line}"`);
    return call;
  });
}

/**
 * A phase that writeTimeline wrote, DIR/PHASE without the extension: its calls, where its
 * startMs 0 is on the machine's monotonic clock (µs), and how long it ran, to its last call's
 * answer (ms).
 */
export function readPhase(phase: string): { calls: TimelineCall[]; originUs: number; lengthMs: number } {
  const { monotonicUs } = JSON.parse(readFileSync(`${phase}.origin.json`, 'utf8')) as { monotonicUs: number };
  const calls = parseTimeline(readFileSync(`${phase}.tsv`, 'utf8'));
  return { calls, originUs: monotonicUs, lengthMs: Math.max(...calls.map((c) => c.startMs + c.ms)) };
}

/** The calls in windows of `windowMs` by their start, per host (hosts, then time, in order). */
export function timelineWindows(calls: readonly TimelineCall[], windowMs: number, overMs: number): TimelineWindow[] {
  const windows = new Map<string, { host: number; fromMs: number; calls: number; slow: Record<string, number>; slowestMs: number }>();
  for (const c of calls) {
    const fromMs = Math.floor(c.startMs / windowMs) * windowMs;
    const key = `${c.host}:${fromMs}`;
    let w = windows.get(key);
    if (!w) windows.set(key, (w = { host: c.host, fromMs, calls: 0, slow: {}, slowestMs: 0 }));
    w.calls++;
    w.slowestMs = Math.max(w.slowestMs, c.ms);
    const method = c.method.split('.').at(-1)!;
    if (c.ms > overMs) w.slow[method] = (w.slow[method] ?? 0) + 1;
  }
  return [...windows.values()].sort((a, b) => a.host - b.host || a.fromMs - b.fromMs);
}

export interface MethodSplit {
  readonly calls: number;
  /** Calls that opened a connection of their own. */
  readonly opened: number;
  readonly over: number;
  /** Of the calls over the bound, those that had opened a connection. */
  readonly overOpened: number;
  /** Calls started in the first window, how many of them opened a connection, and their mean latency. */
  readonly first: number;
  readonly firstOpened: number;
  readonly firstMeanMs: number;
}

/** The whole phase by method (short names), all hosts together: see the file's comment. */
export function methodSplit(calls: readonly TimelineCall[], windowMs: number, overMs: number): Record<string, MethodSplit> {
  const out: Record<string, { calls: number; opened: number; over: number; overOpened: number; first: number; firstOpened: number; firstMs: number }> = {};
  for (const c of calls) {
    const m = (out[c.method.split('.').at(-1)!] ??= { calls: 0, opened: 0, over: 0, overOpened: 0, first: 0, firstOpened: 0, firstMs: 0 });
    m.calls++;
    if (c.newConnection) m.opened++;
    if (c.ms > overMs) {
      m.over++;
      if (c.newConnection) m.overOpened++;
    }
    if (c.startMs < windowMs) {
      m.first++;
      if (c.newConnection) m.firstOpened++;
      m.firstMs += c.ms;
    }
  }
  return Object.fromEntries(
    Object.entries(out).map(([k, { firstMs, ...m }]) => [k, { ...m, firstMeanMs: m.first > 0 ? firstMs / m.first : 0 }]),
  );
}

/**
 * Writes every call the clients of a phase made (one client per host, in host order) to
 * DIR/PHASE.tsv, which parseTimeline reads, with DIR/PHASE.origin.json: where its startMs 0 is
 * on the machine's monotonic clock, the clock of the plugins' V8 profiles too
 * (BENCH_PROFILE_DIR), so that bench/profile-windows.ts can line the two up.
 */
export function writeTimeline(dir: string, phase: string, apis: ReadonlyArray<Pick<PluginApi, 'timeline'>>): void {
  const rows = apis.flatMap((a, h) => a.timeline.map((c) => ({ host: h + 1, ...c })));
  const first = Math.min(...rows.map((r) => r.started));
  rows.sort((a, b) => a.started - b.started);
  const lines = rows.map((r) => [r.host, r.method, (r.started - first).toFixed(2), r.ms.toFixed(2), r.newConnection ? 1 : 0].join('\t'));
  mkdirSync(dir, { recursive: true });
  writeFileSync(resolve(dir, `${phase}.tsv`), `host\tmethod\tstartMs\tms\tnewConnection\n${lines.join('\n')}\n`);
  const originUs = Number(process.hrtime.bigint() / 1000n) - (performance.now() - first) * 1000;
  writeFileSync(resolve(dir, `${phase}.origin.json`), `${JSON.stringify({ monotonicUs: Math.round(originUs) })}\n`);
}

function main(): void {
  const [file, windowArg = '250', overArg = '60'] = process.argv.slice(2);
  if (!file) throw new Error('usage: npx tsx bench/timeline-windows.ts PHASE.tsv [WINDOW_MS] [OVER_MS]');
  const windowMs = Number(windowArg);
  const overMs = Number(overArg);
  if (!(windowMs > 0) || !(overMs >= 0)) throw new Error('WINDOW_MS must be a positive number of ms, OVER_MS a number of ms');
  console.log(`| host | from (ms) | calls started | of them over ${overMs} ms, by method | slowest |`);
  console.log('|---|---|---|---|---|');
  const calls = parseTimeline(readFileSync(file, 'utf8'));
  for (const w of timelineWindows(calls, windowMs, overMs)) {
    const slow = Object.entries(w.slow).map(([m, n]) => `${m} ${n}`).join(', ') || 'none';
    console.log(`| ${w.host} | ${w.fromMs} | ${w.calls} | ${slow} | ${w.slowestMs.toFixed(0)} ms |`);
  }
  console.log(`\n| method | calls | opened a connection | over ${overMs} ms | of those, opened a connection | started in the first ${windowMs} ms: calls, of them opened a connection, mean ms |`);
  console.log('|---|---|---|---|---|---|');
  for (const [m, v] of Object.entries(methodSplit(calls, windowMs, overMs)).sort()) {
    console.log(`| ${m} | ${v.calls} | ${v.opened} | ${v.over} | ${v.overOpened} | ${v.first}, ${v.firstOpened}, ${v.firstMeanMs.toFixed(1)} |`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) main();
