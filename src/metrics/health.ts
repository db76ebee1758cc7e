import { errorMessage } from '../lib/errors.js';

/** Where health comes from; the app supplies these, so this file knows nothing of etcd or sockets. */
export interface HealthSources {
  /** Why the plugin API is not being served on its socket; undefined when it is. */
  socketProblem(): Promise<string | undefined>;
  /**
   * One round trip to etcd. Resolves when etcd answered, with a problem the answer shows
   * (this node's record is missing) or undefined; rejects when etcd did not answer.
   */
  probeEtcd(): Promise<string | undefined>;
}

export interface HealthOptions {
  /** How often etcd is probed in the background (a scrape never waits for etcd). */
  readonly probeIntervalMs?: number;
  /** etcd counts as answering while its last answer is younger than this. */
  readonly staleAfterMs?: number;
  readonly now?: () => number;
}

export interface HealthReport {
  readonly healthy: boolean;
  /** Empty when healthy; otherwise one sentence per problem. */
  readonly reasons: string[];
  /** Milliseconds since etcd last answered a probe; undefined if it never did. */
  readonly etcdAnsweredMsAgo: number | undefined;
}

/**
 * Healthy means: the plugin API is served on its socket, etcd answered a probe recently (a
 * read of the node records, bounded by the etcd call timeout, every `probeIntervalMs`; three
 * missed probes make it stale), and that answer still lists this node, i.e. its lease is
 * alive, so other hosts keep sending its containers traffic.
 */
export class HealthMonitor {
  private readonly intervalMs: number;
  private readonly staleAfterMs: number;
  private readonly now: () => number;
  private lastAnswerAt: number | undefined;
  private lastProblem: string | undefined;
  private lastError: string | undefined;
  private probing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly sources: HealthSources, options: HealthOptions = {}) {
    this.intervalMs = options.probeIntervalMs ?? 5000;
    this.staleAfterMs = options.staleAfterMs ?? 3 * this.intervalMs;
    this.now = options.now ?? Date.now;
  }

  /** Probes once (so the first report has an answer), then in the background. */
  async start(): Promise<void> {
    await this.probe();
    this.timer = setInterval(() => void this.probe(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One etcd probe; a probe still running is joined, not doubled. */
  probe(): Promise<void> {
    this.probing ??= (async () => {
      try {
        this.lastProblem = await this.sources.probeEtcd();
        this.lastAnswerAt = this.now();
        this.lastError = undefined;
      } catch (err) {
        this.lastError = errorMessage(err);
      }
    })().finally(() => (this.probing = undefined));
    return this.probing;
  }

  async report(): Promise<HealthReport> {
    const reasons: string[] = [];
    const socket = await this.sources.socketProblem();
    if (socket) reasons.push(socket);
    const ago = this.lastAnswerAt === undefined ? undefined : this.now() - this.lastAnswerAt;
    const why = this.lastError ? ` (last error: ${this.lastError})` : '';
    if (ago === undefined) reasons.push(`etcd has not answered since the plugin started${why}`);
    else if (ago > this.staleAfterMs) reasons.push(`etcd last answered ${Math.round(ago / 1000)} s ago, more than ${this.staleAfterMs / 1000} s${why}`);
    else if (this.lastProblem) reasons.push(this.lastProblem);
    return { healthy: reasons.length === 0, reasons, etcdAnsweredMsAgo: ago };
  }
}
