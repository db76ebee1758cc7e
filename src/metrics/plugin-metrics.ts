import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DNS_ANSWERS, type DnsAnswer, DRIFT_KINDS, type DriftKind, ETCD_OPS, type EtcdOp, type Outcome, type PluginObservers } from './ports.js';

/** What this host holds right now, read at scrape time (never stale, nothing to keep in sync). */
export interface HostInventory {
  readonly endpoints: number;
  readonly networks: number;
  /** Nodes whose lease is alive, this one included. */
  readonly nodesAlive: number;
}

export interface PluginMetricsOptions {
  /** process_* and nodejs_* metrics (CPU, memory, event loop lag). */
  readonly processMetrics?: boolean;
  readonly version?: string;
}

/** Buckets for plugin API latency: most calls take 1-20 ms, etcd trouble shows up at seconds. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Every ts-overlay metric, in a registry of its own (never prom-client's global one), so that
 * several plugins in one process (tests) do not share or clash.
 */
export class PluginMetrics implements PluginObservers {
  readonly registry = new Registry();
  private inventory: () => HostInventory | undefined = () => undefined;

  private readonly requests = new Counter({
    name: 'ts_overlay_api_requests_total',
    help: 'Plugin API calls answered, by call (e.g. NetworkDriver.CreateEndpoint) and outcome (ok, error)',
    labelNames: ['call', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly latency = new Histogram({
    name: 'ts_overlay_api_request_duration_seconds',
    help: 'Time to answer a plugin API call, by call and outcome',
    labelNames: ['call', 'outcome'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly connections = new Counter({
    name: 'ts_overlay_api_connections_opened_total',
    help: "Connections opened to the plugin's socket; Docker's plugin client keeps 2 idle ones, so calls beyond 2 in flight open new ones",
    registers: [this.registry],
  });
  private readonly etcdTxns = new Histogram({
    name: 'ts_overlay_etcd_txn_duration_seconds',
    help: 'Time from asking etcd for a transaction (an endpoint published, an address claimed, ...) to its answer, the wait for the commit ahead of it included',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly etcdCommits = new Histogram({
    name: 'ts_overlay_etcd_commit_duration_seconds',
    help: 'Round trip of one commit to etcd; transactions asked for while one is on its way go in the next together (count of this against ts_overlay_etcd_txn_duration_seconds: how many per commit)',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  private readonly reconciles = new Counter({
    name: 'ts_overlay_reconcile_runs_total',
    help: 'Reconciles of kernel, engine and etcd, by outcome (error: it stopped early and will run again)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly drift = new Counter({
    name: 'ts_overlay_drift_repaired_total',
    help: 'Things a reconcile found out of line and put right, by kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly etcdErrors = new Counter({
    name: 'ts_overlay_etcd_errors_total',
    help: 'etcd calls that failed because etcd did not answer or refused, by operation (read, write, watch)',
    labelNames: ['op'] as const,
    registers: [this.registry],
  });
  private readonly dnsAnswers = new Counter({
    name: 'ts_overlay_dns_answers_total',
    help: 'DNS queries the responder answered, by answer: name (a ts-overlay name), nodata, nxdomain (a name of another network), forwarded, servfail (no upstream answered), refused (malformed or not a query)',
    labelNames: ['answer'] as const,
    registers: [this.registry],
  });
  private readonly peerEntries = new Counter({
    name: 'ts_overlay_peer_entries_programmed_total',
    help: 'FDB and neighbour entries added, replaced or removed on VXLAN devices',
    registers: [this.registry],
  });

  private readonly sparesHandedOut = new Counter({
    name: 'ts_overlay_spare_ports_handed_out_total',
    help: 'Joins answered with a spare interface made ahead under load (--spare-ports) instead of making one',
    registers: [this.registry],
  });

  constructor(options: PluginMetricsOptions = {}) {
    const self = this;
    const gauge = (name: string, help: string, pick: (i: HostInventory) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const inventory = self.inventory();
          if (inventory) this.set(pick(inventory));
        },
      });
    gauge('ts_overlay_local_endpoints', 'Endpoints (container interfaces) on this host', (i) => i.endpoints);
    gauge('ts_overlay_local_networks', 'ts-overlay networks with devices on this host', (i) => i.networks);
    gauge('ts_overlay_nodes_alive', 'Nodes whose lease in etcd is alive, as this host sees them (itself included)', (i) => i.nodesAlive);
    if (options.version) {
      new Gauge({ name: 'ts_overlay_build_info', help: 'Always 1; the version in a label', labelNames: ['version'] as const, registers: [this.registry] }).set({ version: options.version }, 1);
    }

    for (const outcome of ['ok', 'error'] as const) this.reconciles.inc({ outcome }, 0);
    for (const kind of DRIFT_KINDS) this.drift.inc({ kind }, 0);
    for (const op of ETCD_OPS) this.etcdErrors.inc({ op }, 0);
    for (const answer of DNS_ANSWERS) this.dnsAnswers.inc({ answer }, 0);
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Where the gauges read this host's state from (the app knows; the metrics do not). */
  observeHost(source: () => HostInventory): void {
    this.inventory = source;
  }

  /** Series at 0 from the start, so rate() and increase() work before the first call. */
  declareCalls(calls: readonly string[]): void {
    for (const call of calls) for (const outcome of ['ok', 'error'] as const) this.requests.inc({ call, outcome }, 0);
  }

  apiCall(call: string, outcome: Outcome, seconds: number): void {
    this.requests.inc({ call, outcome });
    this.latency.observe({ call, outcome }, seconds);
  }

  connectionOpened(count: number): void {
    this.connections.inc(count);
  }

  reconciled(outcome: Outcome, repaired: Readonly<Partial<Record<DriftKind, number>>>): void {
    this.reconciles.inc({ outcome });
    for (const [kind, n] of Object.entries(repaired)) if (n) this.drift.inc({ kind }, n);
  }

  peerEntriesProgrammed(count: number): void {
    if (count > 0) this.peerEntries.inc(count);
  }

  sparePortHandedOut(): void {
    this.sparesHandedOut.inc();
  }

  etcdError(op: EtcdOp): void {
    this.etcdErrors.inc({ op });
  }

  etcdTxnAnswered(seconds: number): void {
    this.etcdTxns.observe(seconds);
  }

  etcdCommitted(seconds: number): void {
    this.etcdCommits.observe(seconds);
  }

  dnsAnswered(answer: DnsAnswer): void {
    this.dnsAnswers.inc({ answer });
  }

  /** The Prometheus text exposition of everything above. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
