/**
 * What each plugin counted during a phase of a benchmark, from its own /metrics (which it keeps
 * whether or not it serves them): how many Joins it answered, how many of them with a spare
 * interface made ahead (src/dataplane/spare-ports.ts; the others waited for `ip` to make theirs),
 * how many took longer than 50 ms by its own clock (from the request read to the answer sent, so
 * a wait before the plugin read the request is not in it), and how many reconcile passes ran.
 * And what a slow Join may have waited for: the etcd transactions that took over 50 ms from being
 * asked for to their answer (an endpoint's publication, which Join waits for, is one), and the
 * commits to etcd over 50 ms (one round trip each, carrying the transactions asked for while the
 * one before was on its way). And the time its main thread stood still for garbage collection
 * (node's own GC figures, which the plugin serves with its process metrics; a pause holds up every
 * call in the loop). (node's own event-loop delay figures were not taken: node 20's
 * monitorEventLoopDelay, which prom-client reads, does not register a 120 ms block of the loop:
 * bench/event-loop-delay.ts.)
 * A count the plugin does not expose (an older build) is NaN, not zero.
 */
import { histogram, parsePrometheus, type Sample, total } from './prometheus.js';

export interface PluginCounters {
  readonly joins: number;
  readonly spares: number;
  readonly joinsOver50ms: number;
  readonly reconciles: number;
  readonly txnsOver50ms: number;
  readonly commitsOver50ms: number;
  /** The main thread's garbage-collection pauses (node's own figures, every kind): their time in ms, and how many took over 10 ms. */
  readonly gcPauseMs: number;
  readonly gcPausesOver10ms: number;
}

const JOIN = { call: 'NetworkDriver.Join' };

/** Observations over `bound` seconds in a histogram: none yet is 0; a histogram without that bound (its buckets changed) NaN. */
function over(bound: number, samples: readonly Sample[], name: string, where: Readonly<Record<string, string>> = {}): number {
  const buckets = histogram(samples, name, where);
  return buckets.size === 0 ? 0 : (buckets.get(Infinity) ?? NaN) - (buckets.get(bound) ?? NaN);
}
const over50ms = (samples: readonly Sample[], name: string, where: Readonly<Record<string, string>> = {}) => over(0.05, samples, name, where);
/** node's GC figures (prom-client's process metrics); NaN both from a plugin serving without them. */
function gcPauses(samples: readonly Sample[]): { gcPauseMs: number; gcPausesOver10ms: number } {
  const seconds = total(samples, 'nodejs_gc_duration_seconds_sum');
  return { gcPauseMs: seconds * 1000, gcPausesOver10ms: Number.isNaN(seconds) ? NaN : over(0.01, samples, 'nodejs_gc_duration_seconds') };
}

export function parsePluginMetrics(text: string): PluginCounters {
  const samples: Sample[] = parsePrometheus(text);
  return {
    joins: total(samples, 'ts_overlay_api_requests_total', JOIN),
    spares: total(samples, 'ts_overlay_spare_ports_handed_out_total'),
    joinsOver50ms: over50ms(samples, 'ts_overlay_api_request_duration_seconds', JOIN),
    reconciles: total(samples, 'ts_overlay_reconcile_runs_total'),
    txnsOver50ms: over50ms(samples, 'ts_overlay_etcd_txn_duration_seconds'),
    commitsOver50ms: over50ms(samples, 'ts_overlay_etcd_commit_duration_seconds'),
    ...gcPauses(samples),
  };
}

export function pluginCountersBetween(before: PluginCounters, after: PluginCounters): PluginCounters {
  return {
    joins: after.joins - before.joins,
    spares: after.spares - before.spares,
    joinsOver50ms: after.joinsOver50ms - before.joinsOver50ms,
    reconciles: after.reconciles - before.reconciles,
    txnsOver50ms: after.txnsOver50ms - before.txnsOver50ms,
    commitsOver50ms: after.commitsOver50ms - before.commitsOver50ms,
    gcPauseMs: after.gcPauseMs - before.gcPauseMs,
    gcPausesOver10ms: after.gcPausesOver10ms - before.gcPausesOver10ms,
  };
}

/** How many connections clients opened to the plugin's socket; NaN from a build that does not count them. */
export function connectionsOpened(text: string): number {
  return total(parsePrometheus(text), 'ts_overlay_api_connections_opened_total');
}

/**
 * One host's counts for a report: "Joins 1000, 870 with a spare, 12 over 50 ms inside the plugin;
 * etcd transactions over 50 ms 9 (commits 2); reconcile passes 0; GC pauses 310 ms (2 over 10 ms)" (the
 * last part only when the plugin serves node's GC figures).
 */
export function pluginCountersText(c: PluginCounters): string {
  return `Joins ${c.joins}, ${c.spares} with a spare, ${c.joinsOver50ms} over 50 ms inside the plugin; etcd transactions over 50 ms ${c.txnsOver50ms} (commits ${c.commitsOver50ms}); reconcile passes ${c.reconciles}${Number.isNaN(c.gcPauseMs) ? '' : `; GC pauses ${c.gcPauseMs.toFixed(0)} ms (${c.gcPausesOver10ms} over 10 ms)`}`;
}
