import { circuitBreaker, ConsecutiveBreaker, handleWhen, isBrokenCircuitError, retry } from 'cockatiel';
import { CompareResult, CompareTarget, Etcd3, GRPCUnavailableError, type ICompare, type IKeyValue, type IRequestOp, type ITxnRequest, isRecoverableError, type Namespace, Range, type Watcher } from 'etcd3';
import { errorMessage, PluginError, unavailable } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { type EtcdObserver, noMetrics } from '../metrics/ports.js';
import { TxnBatcher, type TxnFootprint } from './txn-batch.js';

/** A JSON value in etcd and the revisions that transactions compare against. */
export interface Entry<T> {
  readonly key: string;
  readonly value: T;
  readonly modRevision: number;
}

/**
 * A condition of a transaction: the key still has this mod revision (0: it does not exist),
 * or it simply exists (when only its presence matters, not whether it was updated since), or
 * no key under a prefix was written after a revision (a listing taken then still holds: no key
 * was added or changed since; deletions do not count).
 */
export type Compare =
  | { readonly key: string; readonly modRevision: number }
  | { readonly key: string; readonly exists: true }
  | { readonly prefix: string; readonly unchangedSince: number };

export interface TxnOps {
  /** Every write is conditional: at least one compare. */
  readonly compare: readonly [Compare, ...Compare[]];
  readonly put?: ReadonlyArray<readonly [key: string, value: unknown]>;
  readonly delete?: readonly string[];
  readonly deletePrefix?: readonly string[];
}

export interface WatchHandlers {
  onPut(key: string, value: unknown, revision: number): void;
  onDelete(key: string, revision: number): void;
  /** The watch lost its place (compaction): re-read everything from `list`. */
  onResync(): void;
}

export interface EtcdOptions {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  /** PEM contents; present for https:// endpoints. */
  readonly tls?: { readonly rootCertificate: Buffer; readonly certChain?: Buffer; readonly privateKey?: Buffer };
  readonly auth?: { readonly username: string; readonly password: string };
  /** Bound on every unary call, so a dead etcd never hangs a Docker request. */
  readonly callTimeoutMs: number;
  /** Counts etcd's failures (default: not counted). */
  readonly metrics?: EtcdObserver;
}

/**
 * Thin JSON-over-etcd layer: reads with revisions, compare-and-swap transactions, prefix
 * watches. Every failure of etcd itself surfaces as an 'unavailable' PluginError naming etcd.
 */
export class EtcdKv {
  private readonly root: Etcd3;
  private readonly ns: Namespace;
  /** Transactions asked for while one is in flight go together (txn-batch.ts). */
  private readonly txns = new TxnBatcher<TxnOps>((batch) => this.commit(batch), footprint, isUnreachable, {
    answered: (seconds) => this.options.metrics?.etcdTxnAnswered?.(seconds),
    committed: (seconds, members) => this.options.metrics?.etcdCommitted?.(seconds, members),
  });

  constructor(private readonly options: EtcdOptions, private readonly log: Logger) {
    this.root = new Etcd3({
      hosts: [...options.endpoints],
      ...(options.tls ? { credentials: { ...options.tls } } : {}),
      ...(options.auth ? { auth: { ...options.auth } } : {}),
      dialTimeout: options.callTimeoutMs,
      // gRPC's own reconnect backoff grows to two minutes; etcd coming back should be noticed
      // within a second.
      grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 1000 },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + options.callTimeoutMs }),
      faultHandling: {
        // A failing member is skipped for a second, then tried again: long enough not to
        // hammer it, short enough that the plugin resumes as soon as etcd is back.
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        // One more try inside the client, on the next member, only for a call that found no
        // connection: it never reached etcd, so no write goes twice. A write retried after a
        // try that may have been applied (a timeout, a dropped connection) would fail the
        // compares the first one changed and read as lost: those are withFailover's.
        global: retry(handleWhen(neverSent), { maxAttempts: 1 }),
      },
    });
    this.ns = this.root.namespace(options.prefix);
  }

  get client(): Namespace {
    return this.ns;
  }

  async get<T>(key: string): Promise<Entry<T> | undefined> {
    const { result: res } = await this.guard('read', () => withFailover(() => this.ns.get(key).exec()));
    const kv = res.kvs[0];
    return kv ? toEntry<T>(kv) : undefined;
  }

  /** Every entry under `prefix`, with the store revision the read was made at. */
  async list<T>(prefix: string): Promise<{ entries: Entry<T>[]; revision: number }> {
    const { result: res } = await this.guard('read', () => withFailover(() => this.ns.getAll().prefix(prefix).exec()));
    const entries: Entry<T>[] = [];
    for (const kv of res.kvs) {
      // A value that is not JSON (written by hand) is left out, not allowed to fail every
      // listing of its prefix: a start-up waiting for one would wait for ever, on every host.
      const entry = this.jsonEntry(kv);
      if (entry) entries.push(entry as Entry<T>);
    }
    return { entries, revision: Number(res.header.revision) };
  }

  /**
   * An unconditional put or delete through the raw client: sending it twice leaves etcd as once,
   * so it is tried once more when etcd could not be reached (failover, as withFailover).
   */
  async idempotent<T>(write: (client: Namespace) => Promise<T>): Promise<T> {
    return this.guard('write', async () => (await withFailover(() => write(this.ns))).result);
  }

  /** Applies all writes if every compare holds; returns whether it did. */
  async txn(ops: TxnOps): Promise<boolean> {
    return (await this.txnRevision(ops)) !== undefined;
  }

  /**
   * Like txn, and tells the store revision the writes got (the mod revision of every key the
   * transaction put), or undefined when a compare failed.
   */
  async txnRevision(ops: TxnOps): Promise<number | undefined> {
    return this.txns.submit(ops);
  }

  /**
   * One transaction to etcd for the batch: a lone member as itself, several as nested
   * transactions of one (each applied or not by its own compares, all at one revision).
   */
  private async commit(batch: readonly TxnOps[]): Promise<Array<number | undefined | Error>> {
    const members = await Promise.all(batch.map((ops) => this.request(ops)));
    const request = members.length === 1 ? members[0]! : { compare: [], success: members.map((m) => ({ request_txn: m })), failure: [] };
    const { result: res, firstMayHaveApplied } = await this.guard('write', () => withFailover(() => this.ns.kv.txn(request)));
    const revision = Number(res.header.revision);
    const succeeded = members.length === 1 ? [res.succeeded] : res.responses.map((r) => r.response_txn.succeeded);
    if (!firstMayHaveApplied) return succeeded.map((ok) => (ok ? revision : undefined));
    // After a first try that may have been applied, failed compares may be that try's own
    // writes: neither applied nor lost, so the caller treats it as etcd failing it. A member
    // that only deletes keys is done all the same when they are gone, by whichever try.
    return Promise.all(
      succeeded.map(async (ok, i) => {
        if (ok) return revision;
        if (await this.onlyDeletedKeysGone(batch[i]!)) return revision;
        return unavailable(`etcd write's outcome unknown (${this.options.endpoints.join(',')}): its first try failed after it may have reached etcd, and its second found its conditions changed, perhaps by the first`);
      }),
    );
  }

  /** The transaction only deletes keys one by one, and none of them exists now. */
  private async onlyDeletedKeysGone(ops: TxnOps): Promise<boolean> {
    if ((ops.put ?? []).length > 0 || (ops.deletePrefix ?? []).length > 0 || (ops.delete ?? []).length === 0) return false;
    try {
      for (const key of ops.delete!) if ((await this.ns.get(key).exec()).kvs.length > 0) return false;
      return true;
    } catch {
      return false;
    }
  }

  private async request(ops: TxnOps): Promise<ITxnRequest> {
    const key = (k: string) => Buffer.concat([this.ns.prefix, Buffer.from(k)]);
    const compare: ICompare[] = ops.compare.map((c) => {
      if ('prefix' in c) {
        // Over a range etcd compares every key in it (none: compared as absent, mod revision 0).
        const start = key(c.prefix);
        return { key: start, range_end: Range.prefix(start).end, target: CompareTarget.Mod, result: CompareResult.Less, mod_revision: c.unchangedSince + 1 };
      }
      return 'exists' in c
        ? { key: key(c.key), target: CompareTarget.Version, result: CompareResult.Greater, version: 0 }
        : { key: key(c.key), target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: c.modRevision };
    });
    const success: IRequestOp[] = await Promise.all([
      ...(ops.put ?? []).map(([k, value]) => this.ns.put(k).value(JSON.stringify(value)).op()),
      ...(ops.delete ?? []).map((k) => this.ns.delete().key(k).op()),
      ...(ops.deletePrefix ?? []).map((prefix) => this.ns.delete().prefix(prefix).op()),
    ]);
    return { compare, success, failure: [] };
  }

  /**
   * Watches `prefix` from `fromRevision` (exclusive). etcd3 reconnects by itself and resumes
   * from the last revision it saw; when that revision was compacted we are told to resync.
   */
  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): { close(): Promise<void> } {
    let watcher: Watcher | undefined;
    let closed = false;
    const start = async (revision: number) => {
      watcher = await this.ns.watch().prefix(prefix).startRevision(String(revision + 1)).create();
      // A handler that throws (on a value of the wrong shape, written by hand) must not throw
      // into etcd3's stream: nothing would catch it there, and the plugin would end.
      watcher.on('put', (kv) => {
        const entry = this.jsonEntry(kv);
        if (!entry) return;
        try {
          handlers.onPut(entry.key, entry.value, entry.modRevision);
        } catch (err) {
          this.notTakenIn(entry.key, err);
        }
      });
      watcher.on('delete', (kv) => {
        try {
          handlers.onDelete(kv.key.toString(), Number(kv.mod_revision));
        } catch (err) {
          this.notTakenIn(kv.key.toString(), err);
        }
      });
      watcher.on('error', (err) => {
        (this.options.metrics ?? noMetrics).etcdError('watch');
        this.log.warn({ err, prefix }, 'etcd watch failed; resyncing');
        void watcher?.cancel().catch(() => undefined);
        if (!closed) handlers.onResync();
      });
    };
    let resyncLater: NodeJS.Timeout | undefined;
    const ready = start(fromRevision).catch((err) => {
      (this.options.metrics ?? noMetrics).etcdError('watch');
      this.log.warn({ err, prefix }, 'could not open etcd watch; resyncing');
      if (!closed) resyncLater = setTimeout(() => !closed && handlers.onResync(), 1000);
    });
    return {
      close: async () => {
        closed = true;
        clearTimeout(resyncLater);
        await ready;
        await watcher?.cancel().catch(() => undefined);
      },
    };
  }

  close(): void {
    this.root.close();
  }

  /** The entry of a value that is JSON; one that is not (written by hand) is logged and left out. */
  private jsonEntry(kv: IKeyValue): Entry<unknown> | undefined {
    const entry = safeEntry(kv);
    if (!entry) this.log.warn({ key: kv.key.toString() }, 'ignored a value in etcd that is not JSON');
    return entry;
  }

  private notTakenIn(key: string, err: unknown): void {
    this.log.warn({ key, err: errorMessage(err) }, 'ignored a change in etcd that could not be taken in');
  }

  private async guard<T>(what: 'read' | 'write', call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (err) {
      if (err instanceof PluginError) throw err;
      (this.options.metrics ?? noMetrics).etcdError(what);
      const reason = isBrokenCircuitError(err) ? 'unreachable (failed moments ago; retrying every second)' : errorMessage(err);
      throw unavailable(`etcd ${what} failed (${this.options.endpoints.join(',')}): ${reason}`, err);
    }
  }
}

/**
 * Runs an etcd call, and once more when etcd could not be reached or did not answer in time
 * (the second try picks its member anew; the host breaker skips one that failed three times
 * running). `firstMayHaveApplied`: the first try failed after it may have reached etcd
 * (anything but a member skipped by its breaker or a call that found no connection), so a
 * write may have been applied by it.
 */
async function withFailover<T>(call: () => Promise<T>): Promise<{ result: T; firstMayHaveApplied: boolean }> {
  try {
    return { result: await call(), firstMayHaveApplied: false };
  } catch (err) {
    if (!(err instanceof Error) || !(isRecoverableError(err) || isBrokenCircuitError(err))) throw err;
    return { result: await call(), firstMayHaveApplied: !isBrokenCircuitError(err) && !neverSent(err) };
  }
}

/**
 * grpc-js's words for a call that found no connection to its member (refused, unreachable):
 * nothing was sent. Any other failure may have reached etcd.
 */
function neverSent(err: Error): boolean {
  return err instanceof GRPCUnavailableError && err.message.includes('No connection established');
}

/** What a transaction compares and writes, for forming batches whose members cannot see each other. */
function footprint(ops: TxnOps): TxnFootprint {
  return {
    compares: ops.compare.flatMap((c) => ('key' in c ? [c.key] : [])),
    writes: [...(ops.put ?? []).map(([k]) => k), ...(ops.delete ?? [])],
    byPrefix: (ops.deletePrefix ?? []).length > 0 || ops.compare.some((c) => 'prefix' in c),
  };
}

/** etcd could not be reached (as opposed to refusing the request): splitting a batch would not help. */
function isUnreachable(err: unknown): boolean {
  const cause = err instanceof PluginError ? err.cause : err;
  return cause instanceof Error && (isRecoverableError(cause) || isBrokenCircuitError(cause));
}

function toEntry<T>(kv: IKeyValue): Entry<T> {
  return { key: kv.key.toString(), value: JSON.parse(kv.value.toString()) as T, modRevision: Number(kv.mod_revision) };
}

/** A value someone else wrote by hand must not crash a watch loop. */
function safeEntry(kv: IKeyValue): Entry<unknown> | undefined {
  try {
    return toEntry(kv);
  } catch {
    return undefined;
  }
}
