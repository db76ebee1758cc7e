/**
 * What etcd's disk did during a phase of a benchmark, from etcd's own Prometheus metrics: how
 * many WAL fsyncs and backend commits it made, how many of them took longer than 64 ms, the
 * slowest (as the upper bound of its histogram bucket), and how many applies took longer than
 * 100 ms (etcd's warn-apply-duration). A transaction is answered only once its WAL entry is
 * fsynced, so one slow fsync stalls every write in flight, on every host at once.
 */
import { histogram, parsePrometheus, total } from './prometheus.js';

/** The metrics' cumulative values at one moment: histogram buckets by upper bound (seconds), and counters. */
export interface EtcdCounters {
  readonly walFsync: ReadonlyMap<number, number>;
  readonly backendCommit: ReadonlyMap<number, number>;
  readonly slowApplies: number;
}

export interface DiskWrites {
  readonly count: number;
  /** Longer than 64 ms (the histogram's buckets double from 1 ms). */
  readonly over64ms: number;
  /** The upper bound of the slowest one's bucket, in ms (0: none). */
  readonly slowestAtMostMs: number;
}

export interface EtcdDiskFigures {
  readonly walFsync: DiskWrites;
  readonly backendCommit: DiskWrites;
  /** Applies over 100 ms (etcd_server_slow_apply_total). */
  readonly slowApplies: number;
}

/** Reads the counters this module needs out of etcd's /metrics text. */
export function parseEtcdMetrics(text: string): EtcdCounters {
  const samples = parsePrometheus(text);
  const required = (name: string) => {
    const h = histogram(samples, name);
    if (h.size === 0) throw new Error(`etcd's metrics have no ${name}`);
    return h;
  };
  return {
    walFsync: required('etcd_disk_wal_fsync_duration_seconds'),
    backendCommit: required('etcd_disk_backend_commit_duration_seconds'),
    slowApplies: total(samples, 'etcd_server_slow_apply_total'),
  };
}

/** What happened between two readings of one histogram. */
function writesBetween(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): DiskWrites {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const delta = (le: number) => (after.get(le) ?? 0) - (before.get(le) ?? 0);
  const count = delta(Infinity);
  const upTo64ms = bounds.filter((le) => le <= 0.064).at(-1);
  // The slowest write is in the first bucket that already holds all of them.
  const slowest = count === 0 ? 0 : bounds.find((le) => delta(le) === count)!;
  return { count, over64ms: count - (upTo64ms === undefined ? 0 : delta(upTo64ms)), slowestAtMostMs: slowest * 1000 };
}

export function etcdDiskBetween(before: EtcdCounters, after: EtcdCounters): EtcdDiskFigures {
  return {
    walFsync: writesBetween(before.walFsync, after.walFsync),
    backendCommit: writesBetween(before.backendCommit, after.backendCommit),
    slowApplies: after.slowApplies - before.slowApplies,
  };
}

/** One line for a report: "WAL fsyncs 812, 3 over 64 ms, slowest <= 256 ms; ...". */
export function etcdDiskText(d: EtcdDiskFigures): string {
  const writes = (what: string, w: DiskWrites) =>
    w.count === 0 ? `${what} 0` : `${what} ${w.count}, ${w.over64ms} over 64 ms, slowest ${w.slowestAtMostMs === Infinity ? 'over 8 s' : `<= ${w.slowestAtMostMs} ms`}`;
  return `${writes('WAL fsyncs', d.walFsync)}; ${writes('backend commits', d.backendCommit)}; applies over 100 ms: ${d.slowApplies}`;
}
