/**
 * What a process allocated during a phase, by package and by function, from the sampling heap
 * profiles bench/alloc-profile.mjs wrote (one per second, garbage included) and a phase's
 * timeline (BENCH_TIMELINE=DIR):
 *   npx tsx bench/alloc-summary.ts ALLOC_PROFILE_DIR PID TIMELINE_DIR/PHASE [TOP=15]
 * Each profile covers the time since the one before; those that overlap the phase count, and
 * the first line says how far they reach before its start and after its end (a process killed
 * at once after a phase leaves its last part unprofiled). Bytes are V8's estimate from its
 * samples; the profiler's own allocations (under alloc-profile.mjs) are left out.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { readPhase } from './timeline-windows.js';

interface HeapNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: HeapNode[];
}

/** The package a frame's code is in, as bench/profile-summary.ts names them; undefined: node's own. */
export function ownerOf(url: string): string | undefined {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1];
  // The last dist/ or src/ of the path: the checkout itself may sit under a folder of that name.
  const ours = /.*\/(?:dist|src)\/([^/]+)\//.exec(url) ?? /.*\/(?:dist|src)\/([^/]+)$/.exec(url);
  if (ours) return `ts-overlay:${ours[1]!.replace(/\.[jt]s$/, '')}`;
  return /\/bench\//.test(url) ? 'bench' : undefined;
}

/** Bytes allocated in each function itself, with the nearest caller in a package; and by package (node's own code to its caller's). */
export function allocations(roots: readonly HeapNode[]): { byFunction: Map<string, number>; byPackage: Map<string, number> } {
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  const walk = (node: HeapNode, nearest: string | undefined, nearestPackage: string | undefined) => {
    if (node.callFrame.url.endsWith('/alloc-profile.mjs')) return; // the profiler's own
    const own = ownerOf(node.callFrame.url);
    const name = node.callFrame.functionName || '(anonymous)';
    const here = own ? `${name} in ${own}` : nearest;
    const pkg = own ?? nearestPackage;
    if (node.selfSize > 0) {
      const fn = own ? `${name} (${own}:${node.callFrame.lineNumber + 1})` : `${name} (node, called from ${nearest ?? 'nothing of a package'})`;
      byFunction.set(fn, (byFunction.get(fn) ?? 0) + node.selfSize);
      byPackage.set(pkg ?? 'node itself', (byPackage.get(pkg ?? 'node itself') ?? 0) + node.selfSize);
    }
    for (const c of node.children) walk(c, here, pkg);
  };
  for (const r of roots) walk(r, undefined, undefined);
  return { byFunction, byPackage };
}

function main(): void {
  const [dir, pid, phase, topArg = '15'] = process.argv.slice(2);
  if (!dir || !pid || !phase) throw new Error('usage: npx tsx bench/alloc-summary.ts ALLOC_PROFILE_DIR PID TIMELINE_DIR/PHASE [TOP]');
  const { originUs: from, lengthMs } = readPhase(phase);
  const to = from + 1000 * lengthMs;
  const ends = readdirSync(dir)
    .filter((f) => f.startsWith(`${pid}.`) && f.endsWith('.heapprofile'))
    .map((f) => Number(f.split('.')[1]))
    .sort((a, b) => a - b);
  // Profile i covers (ends[i-1], ends[i]]; the first, a second before its end.
  const spans = ends.map((end, i) => ({ start: i === 0 ? end - 1_000_000 : ends[i - 1]!, end })).filter((p) => p.end > from && p.start < to);
  if (spans.length === 0) throw new Error(`no profile of process ${pid} in ${dir} overlaps the phase`);
  const roots = spans.map((p) => (JSON.parse(readFileSync(resolve(dir, `${pid}.${p.end}.heapprofile`), 'utf8')) as { head: HeapNode }).head);
  const { byFunction, byPackage } = allocations(roots);
  const total = [...byPackage.values()].reduce((a, b) => a + b, 0);
  const mb = (b: number) => (b / 1e6).toFixed(1);
  const s = (us: number) => (us / 1e6).toFixed(2);
  const after = spans.at(-1)!.end - to;
  console.log(
    `process ${pid}: ${mb(total)} MB allocated in ${spans.length} profiles, from ${s(from - spans[0]!.start)} s before the phase's start to ${after >= 0 ? `${s(after)} s after its end` : `${s(-after)} s BEFORE its end (the rest not profiled)`} (the phase: ${s(to - from)} s)`,
  );
  const table = (title: string, m: Map<string, number>, top: number) => {
    console.log(`\n| ${title} | MB | share |\n|---|---|---|`);
    for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${k} | ${mb(v)} | ${((100 * v) / total).toFixed(1)} % |`);
  };
  table('package (node\'s own code: its caller\'s)', byPackage, 20);
  table('function (its own allocations)', byFunction, Number(topArg));
}

if (process.argv[1]?.endsWith('alloc-summary.ts')) main();
