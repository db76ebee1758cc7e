import { circuitBreaker, ConsecutiveBreaker, handleWhen, isBrokenCircuitError, retry } from 'cockatiel';
import { Etcd3, type IKeyValue, isRecoverableError, type Namespace, type Watcher } from 'etcd3';
import { errorMessage, PluginError, unavailable } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { type EtcdObserver, noMetrics } from '../metrics/ports.js';

/** A JSON value in etcd and the revisions that transactions compare against. */
export interface Entry<T> {
  readonly key: string;
  readonly value: T;
  readonly modRevision: number;
}

/**
 * A condition of a transaction: the key still has this mod revision (0: it does not exist),
 * or it simply exists (when only its presence matters, not whether it was updated since).
 */
export type Compare = { readonly key: string; readonly modRevision: number } | { readonly key: string; readonly exists: true };

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
        // One more try, on another member when there are several (failover).
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 1 }),
      },
    });
    this.ns = this.root.namespace(options.prefix);
  }

  get client(): Namespace {
    return this.ns;
  }

  async get<T>(key: string): Promise<Entry<T> | undefined> {
    const res = await this.guard('read', () => this.ns.get(key).exec());
    const kv = res.kvs[0];
    return kv ? toEntry<T>(kv) : undefined;
  }

  /** Every entry under `prefix`, with the store revision the read was made at. */
  async list<T>(prefix: string): Promise<{ entries: Entry<T>[]; revision: number }> {
    const res = await this.guard('read', () => this.ns.getAll().prefix(prefix).exec());
    return { entries: res.kvs.map((kv) => toEntry<T>(kv)), revision: Number(res.header.revision) };
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
    const [first, ...rest] = ops.compare;
    const res = await this.guard('write', () => {
      let builder = 'exists' in first ? this.ns.if(first.key, 'Version', '>', 0) : this.ns.if(first.key, 'Mod', '==', first.modRevision);
      for (const c of rest) builder = 'exists' in c ? builder.and(c.key, 'Version', '>', 0) : builder.and(c.key, 'Mod', '==', c.modRevision);
      const writes = [
        ...(ops.put ?? []).map(([key, value]) => this.ns.put(key).value(JSON.stringify(value))),
        ...(ops.delete ?? []).map((key) => this.ns.delete().key(key)),
        ...(ops.deletePrefix ?? []).map((prefix) => this.ns.delete().prefix(prefix)),
      ];
      return builder.then(...writes).commit();
    });
    return res.succeeded ? Number(res.header.revision) : undefined;
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
      watcher.on('put', (kv) => {
        const entry = safeEntry(kv);
        if (entry) handlers.onPut(entry.key, entry.value, entry.modRevision);
      });
      watcher.on('delete', (kv) => handlers.onDelete(kv.key.toString(), Number(kv.mod_revision)));
      watcher.on('error', (err) => {
        (this.options.metrics ?? noMetrics).etcdError('watch');
        this.log.warn({ err, prefix }, 'etcd watch failed; resyncing');
        void watcher?.cancel().catch(() => undefined);
        if (!closed) handlers.onResync();
      });
    };
    const ready = start(fromRevision).catch((err) => {
      (this.options.metrics ?? noMetrics).etcdError('watch');
      this.log.warn({ err, prefix }, 'could not open etcd watch; resyncing');
      if (!closed) setTimeout(() => handlers.onResync(), 1000);
    });
    return {
      close: async () => {
        closed = true;
        await ready;
        await watcher?.cancel().catch(() => undefined);
      },
    };
  }

  close(): void {
    this.root.close();
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
