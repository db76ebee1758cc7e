/**
 * What a process allocates, garbage included: loaded into a plugin or floor server with node's
 * `--import` (e.g. `BENCH_NODE_ARGS="--max-semi-space-size=4 --heap-growing-percent=30 --import
 * ./bench/alloc-profile.mjs"`), it runs V8's sampling heap profiler with the objects the
 * collectors freed counted too (node's own --heap-prof leaves them out, so it shows what stays,
 * not the churn that makes the young-generation collections). Every ALLOC_PROFILE_MS (1000) it
 * writes what was allocated since to ALLOC_PROFILE_DIR (/tmp/alloc-profile)/PID.MONOTONIC_US.heapprofile,
 * the time being the interval's end on the benchmarks' clock, and once more when the process
 * exits; bench/alloc-summary.ts sums them per phase. The profiler's own garbage (its profiles'
 * JSON) is in them too, under this file. Plain JavaScript: the plugin runs from tsc's output,
 * without tsx.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const DIR = process.env.ALLOC_PROFILE_DIR ?? '/tmp/alloc-profile';
const EVERY_MS = Number(process.env.ALLOC_PROFILE_MS ?? 1000);
/** One sample per this many bytes allocated, on average: V8's default is 32 KiB. */
const SAMPLING_BYTES = 4096;

mkdirSync(DIR, { recursive: true });
const session = new Session();
session.connect();
/** The in-process session answers synchronously; undefined when V8 refused (never a throw into the server). */
const post = (method, params) => {
  let answer;
  session.post(method, params, (err, result) => {
    if (!err) answer = result;
  });
  return answer;
};
const start = () => post('HeapProfiler.startSampling', { samplingInterval: SAMPLING_BYTES, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);
/** What was allocated since the last write, to a file named by the time it ends. */
const write = () => {
  const answer = post('HeapProfiler.stopSampling');
  if (answer?.profile) writeFileSync(`${DIR}/${process.pid}.${monotonicUs()}.heapprofile`, JSON.stringify(answer.profile));
};

start();
setInterval(() => {
  write();
  start();
}, EVERY_MS).unref();
// The last part second too, when the process ends on its own or by SIGTERM (bench/api-lab.ts
// stops the plugins with SIGTERM first when ALLOC_PROFILE_DIR is set).
process.on('exit', write);
