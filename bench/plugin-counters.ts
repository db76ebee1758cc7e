/**
 * What each plugin counted during a phase of a benchmark, from its own /metrics (which it keeps
 * whether or not it serves them): how many Joins it answered, how many of them with a spare
 * interface made ahead (src/dataplane/spare-ports.ts; the others waited for `ip` to make theirs),
 * how many took longer than 50 ms by its own clock (from the request read to the answer sent, so
 * a wait before the plugin read the request is not in it), and how many reconcile passes ran.
 * A count the plugin does not expose (an older build) is NaN, not zero.
 */
import { histogram, parsePrometheus, type Sample, total } from './prometheus.js';

export interface PluginCounters {
  readonly joins: number;
  readonly spares: number;
  readonly joinsOver50ms: number;
  readonly reconciles: number;
}

const JOIN = { call: 'NetworkDriver.Join' };

export function parsePluginMetrics(text: string): PluginCounters {
  const samples: Sample[] = parsePrometheus(text);
  // No Join series before the first Join: none over 50 ms. A histogram without that bound
  // (its buckets changed) gives NaN rather than a count that means something else.
  const joinDurations = histogram(samples, 'ts_overlay_api_request_duration_seconds', JOIN);
  const over50ms = joinDurations.size === 0 ? 0 : (joinDurations.get(Infinity) ?? NaN) - (joinDurations.get(0.05) ?? NaN);
  return {
    joins: total(samples, 'ts_overlay_api_requests_total', JOIN),
    spares: total(samples, 'ts_overlay_spare_ports_handed_out_total'),
    joinsOver50ms: over50ms,
    reconciles: total(samples, 'ts_overlay_reconcile_runs_total'),
  };
}

export function pluginCountersBetween(before: PluginCounters, after: PluginCounters): PluginCounters {
  return {
    joins: after.joins - before.joins,
    spares: after.spares - before.spares,
    joinsOver50ms: after.joinsOver50ms - before.joinsOver50ms,
    reconciles: after.reconciles - before.reconciles,
  };
}

/** How many connections clients opened to the plugin's socket; NaN from a build that does not count them. */
export function connectionsOpened(text: string): number {
  return total(parsePrometheus(text), 'ts_overlay_api_connections_opened_total');
}

/** One host's counts for a report: "Joins 1000, 870 with a spare, 12 over 50 ms inside the plugin; reconcile passes 0". */
export function pluginCountersText(c: PluginCounters): string {
  return `Joins ${c.joins}, ${c.spares} with a spare, ${c.joinsOver50ms} over 50 ms inside the plugin; reconcile passes ${c.reconciles}`;
}
