/**
 * What a plugin's main thread was doing in each window of a phase, beside that phase's calls:
 * a V8 CPU profile of the plugin (`BENCH_PROFILE_DIR=DIR`) lined up with the phase's timeline
 * (`BENCH_TIMELINE=DIR`, whose PHASE.origin.json says where its start is on the machine's
 * monotonic clock, the clock of V8's profiles too).
 *   npx tsx bench/profile-windows.ts FILE.cpuprofile TIMELINE_DIR/PHASE HOST [WINDOW_MS=250] [OVER_MS=60]
 * node samples the thread every millisecond, busy or idle; a longer time between two samples is
 * time the thread did not run at all (it waited for a CPU). So each window's time splits into
 * JavaScript and what it called, garbage collection, V8's own work ("program"), idle, and not
 * run. A window with slow calls and much "not run" waited for the CPUs; one with slow calls and
 * much JavaScript or GC was held up by work of its own.
 */
import { readFileSync } from 'node:fs';
import { readPhase, timelineWindows } from './timeline-windows.js';

export interface ProfileSamples {
  readonly startTime: number; // µs, monotonic
  readonly nodes: ReadonlyArray<{ readonly id: number; readonly callFrame: { readonly functionName: string } }>;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[]; // µs, each from the sample before
}

export type ThreadState = 'javascript' | 'gc' | 'program' | 'idle' | 'notRun';
export type WindowTimes = Record<ThreadState, number>;

/** Sampled every millisecond: anything in a gap beyond this was not run. */
const INTERVAL_MS = 1;

const stateOf = (functionName: string): ThreadState =>
  functionName === '(garbage collector)' ? 'gc' : functionName === '(program)' ? 'program' : functionName === '(idle)' ? 'idle' : 'javascript';

/**
 * The thread's time per window of `windowMs`, from `fromUs` on the monotonic clock, for `windows`
 * windows: each sample stands for the interval up to it (at most one sampling interval of its own
 * state, the rest of a longer interval not run), split over the windows it overlaps.
 */
export function profileWindows(profile: ProfileSamples, fromUs: number, windowMs: number, windows: number): WindowTimes[] {
  const out: WindowTimes[] = Array.from({ length: windows }, () => ({ javascript: 0, gc: 0, program: 0, idle: 0, notRun: 0 }));
  const names = new Map(profile.nodes.map((n) => [n.id, n.callFrame.functionName]));
  const add = (state: ThreadState, fromMs: number, toMs: number) => {
    for (let w = Math.max(0, Math.floor(fromMs / windowMs)); w < windows && w * windowMs < toMs; w++) {
      const overlap = Math.min(toMs, (w + 1) * windowMs) - Math.max(fromMs, w * windowMs);
      if (overlap > 0) out[w]![state] += overlap;
    }
  };
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const before = at;
    at += profile.timeDeltas[i] ?? 0;
    const endMs = (at - fromUs) / 1000;
    const startMs = (before - fromUs) / 1000;
    const ownStart = Math.max(startMs, endMs - INTERVAL_MS);
    add(stateOf(names.get(id) ?? ''), ownStart, endMs);
    if (ownStart > startMs) add('notRun', startMs, ownStart);
  });
  return out;
}

function main(): void {
  const [profileFile, phase, hostArg, windowArg = '250', overArg = '60'] = process.argv.slice(2);
  if (!profileFile || !phase || !hostArg) throw new Error('usage: npx tsx bench/profile-windows.ts FILE.cpuprofile TIMELINE_DIR/PHASE HOST [WINDOW_MS] [OVER_MS]');
  const [host, windowMs, overMs] = [Number(hostArg), Number(windowArg), Number(overArg)];
  const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as ProfileSamples;
  const { originUs: monotonicUs, calls: all } = readPhase(phase);
  const calls = all.filter((c) => c.host === host);
  if (calls.length === 0) throw new Error(`the timeline has no calls of host ${host}`);
  const phaseMs = Math.max(...calls.map((c) => c.startMs + c.ms));
  const windows = Math.ceil(phaseMs / windowMs);
  const times = profileWindows(profile, monotonicUs, windowMs, windows);
  const byStart = new Map(timelineWindows(calls, windowMs, overMs).map((w) => [w.fromMs, w]));
  const ms = (v: number) => v.toFixed(0);
  console.log(`| from (ms) | calls started | over ${overMs} ms | slowest | JavaScript | GC | program | idle | not run |`);
  console.log('|---|---|---|---|---|---|---|---|---|');
  times.forEach((t, i) => {
    const w = byStart.get(i * windowMs);
    const slow = w ? Object.values(w.slow).reduce((a, b) => a + b, 0) : 0;
    console.log(`| ${i * windowMs} | ${w?.calls ?? 0} | ${slow} | ${w ? `${ms(w.slowestMs)} ms` : '-'} | ${ms(t.javascript)} | ${ms(t.gc)} | ${ms(t.program)} | ${ms(t.idle)} | ${ms(t.notRun)} |`);
  });
}

if (import.meta.url === `file://${process.argv[1]}`) main();
