/**
 * Where a plugin's CPU went, from a V8 CPU profile (`BENCH_PROFILE_DIR=DIR npx tsx
 * bench/control-plane.ts` writes one per plugin process):
 *   npx tsx bench/profile-summary.ts DIR/CPU.*.cpuprofile [TOP] [TIMELINE_DIR/PHASE[@FROM_MS-TO_MS]]
 * Each sample's time goes to the package whose code it was in (ts-overlay's own by folder of
 * dist/); time in node's internals or native code goes to the nearest caller that belongs to a
 * package, and stays "node itself" when there is none (its event loop, sockets, timers). The
 * shares are of the busy time (all but idle).
 *
 * Then the TOP functions (12 unless given) with the most time of their own, each with the
 * nearest caller in a package. With a phase of a timeline (`BENCH_TIMELINE=TIMELINE_DIR`), only
 * the samples taken from the phase's start to its last call's answer count; PHASE@FROM-TO counts
 * only the samples from FROM to TO ms after the phase's start (its first calls apart from the rest).
 * It also says how often the process went without the CPU: node samples every millisecond
 * (--cpu-prof-interval 1000 us), idle or not, so a gap of more than STALL_MS between two samples
 * is time in which the process was not run at all (the machine's CPUs were busy with others).
 */
import { readFileSync } from 'node:fs';
import { readPhase } from './timeline-windows.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}
interface Profile {
  startTime: number; // µs, monotonic
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Packages counted together, as the README speaks of them. */
const GROUPS: Record<string, RegExp> = {
  'etcd client (grpc-js, protobuf, etcd3, cockatiel)': /^(@grpc\/|@protobufjs\/|protobufjs|etcd3|cockatiel|long|lodash)/,
  'HTTP server (fastify and its parts)': /^(fastify|@fastify\/|find-my-way|avvio|ajv|fast-json-stringify|light-my-request|secure-json-parse|toad-cache|fast-querystring|rfdc|abstract-logging|process-warning)/,
  'starting processes (execa)': /^(execa|cross-spawn|npm-run-path|human-signals|signal-exit|get-stream|is-stream|strip-final-newline|figures|yoctocolors)/,
  'ts-overlay': /^ts-overlay:/,
};

function owner(frame: ProfileNode['callFrame']): string | undefined {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(frame.url);
  if (pkg) return pkg[1];
  const ours = /\/dist\/([^/]+)\//.exec(frame.url) ?? /\/dist\/([^/]+)$/.exec(frame.url);
  return ours ? `ts-overlay:${ours[1]!.replace(/\.js$/, '')}` : undefined;
}

/** The nearest frame above a sample that belongs to a package or to ts-overlay: who made the call. */
function caller(id: number): string | undefined {
  for (let cur = parent.get(id); cur !== undefined; cur = parent.get(cur)) {
    const frame = byId.get(cur)!.callFrame;
    const who = owner(frame);
    if (who) return `${frame.functionName || '(anonymous)'} in ${who}`;
  }
  return undefined;
}

/** A gap between samples this long is time off the CPU, not sampling jitter. */
const STALL_MS = 10;

const file = process.argv[2];
const top = Number(process.argv[3] ?? 12);
const phase = process.argv[4];
if (!file || !Number.isInteger(top) || top < 1) {
  console.error('usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [TOP] [TIMELINE_DIR/PHASE[@FROM_MS-TO_MS]]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
/** The span to count, on the monotonic clock of V8's profiles, in µs: all of it without a phase. */
const span = ((): { from: number; to: number } => {
  if (!phase) return { from: -Infinity, to: Infinity };
  const at = phase.lastIndexOf('@');
  const { originUs, lengthMs } = readPhase(at < 0 ? phase : phase.slice(0, at));
  if (at < 0) return { from: originUs, to: originUs + 1000 * lengthMs };
  // Both ends count (a sample exactly on the boundary of two slices is in both).
  const slice = /^(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$/.exec(phase.slice(at + 1));
  const [fromMs, toMs] = slice ? [Number(slice[1]), Math.min(Number(slice[2]), lengthMs)] : [NaN, NaN];
  if (!(fromMs < toMs)) {
    console.error(`profile-summary: "${phase.slice(at)}" is not a slice FROM-TO (ms) within the phase's ${lengthMs.toFixed(0)} ms`);
    process.exit(2);
  }
  return { from: originUs + 1000 * fromMs, to: originUs + 1000 * toMs };
})();
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

const ms = new Map<string, number>();
/** Time in each function itself (not in what it called), by function and the package it is in. */
const selfMs = new Map<string, number>();
let total = 0;
let at = profile.startTime;
const deltas: number[] = [];
profile.samples.forEach((id, i) => {
  at += profile.timeDeltas[i] ?? 0;
  if (at < span.from || at > span.to) return;
  const dt = (profile.timeDeltas[i] ?? 0) / 1000;
  deltas.push(dt);
  total += dt;
  const leaf = byId.get(id)!;
  const where = /node_modules\/|\/dist\/|^node:/.test(leaf.callFrame.url) ? leaf.callFrame.url.replace(/.*\/(node_modules|dist)\//, '') : leaf.callFrame.url || 'native';
  const fn = `${leaf.callFrame.functionName || '(anonymous)'} (${where}, called from ${caller(id) ?? 'nothing of a package'})`;
  if (leaf.callFrame.functionName !== '(idle)') selfMs.set(fn, (selfMs.get(fn) ?? 0) + dt);
  let who: string | undefined = ['(idle)', '(program)', '(garbage collector)'].includes(leaf.callFrame.functionName) ? leaf.callFrame.functionName : undefined;
  for (let cur: number | undefined = id; who === undefined && cur !== undefined; cur = parent.get(cur)) who = owner(byId.get(cur)!.callFrame);
  who ??= 'node itself';
  ms.set(who, (ms.get(who) ?? 0) + dt);
});

const busy = total - (ms.get('(idle)') ?? 0);
const share = (v: number) => `${((100 * v) / busy).toFixed(1)} %`;
console.log(`${file}\nprofiled ${(total / 1000).toFixed(1)} s, busy ${(busy / 1000).toFixed(1)} s\n`);
const grouped = new Map<string, number>();
for (const [who, v] of ms) {
  if (who === '(idle)') continue;
  const group = Object.entries(GROUPS).find(([, re]) => re.test(who))?.[0] ?? who;
  grouped.set(group, (grouped.get(group) ?? 0) + v);
}
console.log('| of the busy time | ms | share |\n|---|---|---|');
for (const [who, v] of [...grouped].sort((a, b) => b[1] - a[1])) console.log(`| ${who} | ${v.toFixed(0)} | ${share(v)} |`);
console.log('\n| package | ms | share |\n|---|---|---|');
for (const [who, v] of [...ms].filter(([w]) => w !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`| ${who} | ${v.toFixed(0)} | ${share(v)} |`);

// Native code (a write to a socket or pipe, say) shows here under its own name: where a write
// wakes the reader on this CPU, the reader's work is counted in the write.
console.log('\n| function (its own time, not its callees\') | ms | share |\n|---|---|---|');
for (const [fn, v] of [...selfMs].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`| ${fn} | ${v.toFixed(0)} | ${share(v)} |`);

const gaps = deltas.filter((d) => d > STALL_MS).sort((a, b) => b - a);
const stalled = gaps.reduce((a, b) => a + b, 0);
console.log(`\nwithout the CPU: ${gaps.length} gaps of more than ${STALL_MS} ms between samples, ${stalled.toFixed(0)} ms in all` +
  (gaps.length ? `; the longest ${gaps.slice(0, 5).map((g) => g.toFixed(0)).join(', ')} ms` : ''));
