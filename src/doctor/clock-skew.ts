import { type CheckResult, fail, pass } from './check.js';
import { errorMessage } from '../lib/errors.js';
import { type EtcdTls, getEtcdVersion } from './etcd-http.js';

const NAME = 'clock skew';

/**
 * How the skew is measured: etcd's HTTP handlers answer with a Date header (Go's net/http
 * adds it), the server's clock truncated to the second. A request sent at local time t0 and
 * answered at t1 with Date D says the server's clock read between D and D+1 s at a moment
 * between t0 and t1, so skew = server - local lies in [D - t1, D + 1 s - t0]. Every sample's
 * interval holds the true skew, so their intersection does too; polling every ~40 ms across
 * a tick of the server's second makes it about as narrow as the polling gap. etcd's revisions
 * and leases carry no wall-clock time (lease TTLs run on the leader's monotonic clock), so they
 * cannot show skew.
 */
export interface DateSample {
  readonly sentAt: number;
  readonly receivedAt: number;
  /** The Date header, in ms (always a whole second). */
  readonly serverDate: number;
}

export interface SkewBounds {
  readonly min: number;
  readonly max: number;
}

/** The skew interval all samples agree on; undefined when they contradict (the server's clock jumped). */
export function skewBounds(samples: readonly DateSample[]): SkewBounds | undefined {
  let min = -Infinity;
  let max = Infinity;
  for (const s of samples) {
    min = Math.max(min, s.serverDate - s.receivedAt);
    max = Math.min(max, s.serverDate + 1000 - s.sentAt);
  }
  return samples.length > 0 && min <= max ? { min, max } : undefined;
}

/** Skew within this much of etcd passes: a host further off has no working time sync. */
export const MAX_SKEW_MS = 1000;

/** Judged on what is certain: FAIL only when the whole interval lies beyond ±MAX_SKEW_MS. */
export function judgeSkew(against: string, bounds: SkewBounds): CheckResult {
  const mid = (bounds.min + bounds.max) / 2;
  const plusMinus = `±${fmt((bounds.max - bounds.min) / 2)} s`;
  const direction = mid > 0 ? 'behind' : 'ahead of';
  if (bounds.min > MAX_SKEW_MS || bounds.max < -MAX_SKEW_MS) {
    return fail(NAME, `this host's clock is ${fmt(Math.abs(mid))} s ${direction} etcd at ${against} (${plusMinus})`, 'run a time sync daemon on every host and etcd member (timedatectl set-ntp true, or chrony)');
  }
  return pass(NAME, `within ${fmt(Math.max(Math.abs(bounds.min), Math.abs(bounds.max)))} s of etcd at ${against} (measured ${fmt(mid)} s, ${plusMinus}; limit ${MAX_SKEW_MS / 1000} s)`);
}

const fmt = (ms: number) => (ms / 1000).toFixed(3);

/** Polls GET /version until the interval is narrow or ~1.2 s passed (always one tick of the server's second). */
export async function sampleDates(endpoint: string, budgetMs = 1200, everyMs = 40, clock = Date.now, tls?: EtcdTls): Promise<DateSample[]> {
  const samples: DateSample[] = [];
  const end = clock() + budgetMs;
  while (clock() < end) {
    const sentAt = clock();
    const res = await getEtcdVersion(endpoint, tls);
    const receivedAt = clock();
    const date = res.date;
    if (!date || Number.isNaN(Date.parse(date))) throw new Error(`${endpoint}/version answered without a Date header`);
    samples.push({ sentAt, receivedAt, serverDate: Date.parse(date) });
    const bounds = skewBounds(samples);
    if (bounds && bounds.max - bounds.min <= 2 * everyMs) break;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return samples;
}

/** Measures against every member that answers; reports the worst. */
export async function checkClockSkew(endpoints: readonly string[], tls?: EtcdTls): Promise<CheckResult> {
  const errors: string[] = [];
  const measured: CheckResult[] = [];
  await Promise.all(endpoints.map(async (ep) => {
    try {
      const bounds = skewBounds(await sampleDates(ep, undefined, undefined, undefined, tls));
      measured.push(bounds ? judgeSkew(ep, bounds) : fail(NAME, `${ep}: its Date headers contradict each other (did its clock jump?)`, 'run a time sync daemon on the etcd members'));
    } catch (err) {
      errors.push(`${ep}: ${errorMessage(err)}`);
    }
  }));
  if (measured.length === 0) return fail(NAME, `not measured: no etcd member answered (${errors.join('; ')})`, 'see the etcd members check');
  return measured.find((r) => !r.ok) ?? measured[0]!;
}
