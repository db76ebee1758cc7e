/**
 * What components report, as small interfaces they call. The driver, the store and the
 * protocol layer depend on these only; the Prometheus side (plugin-metrics.ts) implements
 * them. `noMetrics` lets a component be built without metrics (tests, one-shot commands).
 */
export type Outcome = 'ok' | 'error';

/** One answered plugin API call (NetworkDriver.CreateEndpoint, ...). */
export interface ApiCallObserver {
  apiCall(call: string, outcome: Outcome, seconds: number): void;
  /** The calls served, told once at start: their series can exist (at 0) before any call. */
  declareCalls?(calls: readonly string[]): void;
  /** Clients (the engine) opened `count` connections to the plugin's socket. */
  connectionOpened?(count: number): void;
}

/** What a reconcile found out of line and put right. */
export const DRIFT_KINDS = ['device_restored', 'device_removed', 'endpoint_released', 'endpoint_republished', 'address_released', 'leftover_removed'] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];

export interface ReconcileObserver {
  reconciled(outcome: Outcome, repaired: Readonly<Partial<Record<DriftKind, number>>>): void;
}

/** FDB and neighbour entries added, replaced or removed on VXLAN devices. */
export interface PeerObserver {
  peerEntriesProgrammed(count: number): void;
}

/** A Join answered with a spare interface (dataplane/spare-ports.ts) instead of making one. */
export interface SparePortObserver {
  sparePortHandedOut(): void;
}

export const ETCD_OPS = ['read', 'write', 'watch'] as const;
export type EtcdOp = (typeof ETCD_OPS)[number];

export interface EtcdObserver {
  /** etcd did not answer, or refused (not: a transaction whose compare failed). */
  etcdError(op: EtcdOp): void;
  /**
   * A transaction (an endpoint's publication, a claim, ...) was answered, won or lost, `seconds`
   * after it was asked for: what a Join waiting for its endpoint's write waits, the commit
   * ahead of it included (store/txn-batch.ts).
   */
  etcdTxnAnswered?(seconds: number): void;
  /** One round trip to etcd carried `members` transactions in `seconds`. */
  etcdCommitted?(seconds: number, members: number): void;
}

/** How the DNS responder answered a query. */
export const DNS_ANSWERS = ['name', 'nodata', 'nxdomain', 'forwarded', 'servfail', 'refused'] as const;
export type DnsAnswer = (typeof DNS_ANSWERS)[number];

export interface DnsObserver {
  dnsAnswered(answer: DnsAnswer): void;
}

export type PluginObservers = ApiCallObserver & ReconcileObserver & PeerObserver & SparePortObserver & EtcdObserver & DnsObserver;

export const noMetrics: PluginObservers = {
  apiCall: () => undefined,
  reconciled: () => undefined,
  peerEntriesProgrammed: () => undefined,
  sparePortHandedOut: () => undefined,
  etcdError: () => undefined,
  dnsAnswered: () => undefined,
};
