/** What a publish came to: nothing kept on success, the error on failure. */
type Outcome = { readonly failed: unknown } | undefined;

/**
 * Endpoint records on their way to etcd. An engine holds its lock on a network from
 * RequestAddress through CreateEndpoint, so a host makes a network's endpoints strictly one
 * after another; Join comes after, outside that lock. CreateEndpoint therefore only starts
 * the transaction that publishes its endpoint, and Join waits for it before the container gets
 * its interface (Docker's own overlay also announces an endpoint to its peers at Join). The
 * host's next endpoint need not wait for etcd, and the writes of endpoints made close together
 * share one transaction (store/txn-batch.ts).
 *
 * A write that succeeded leaves no trace here. One that failed is kept, for Join to refuse with
 * and for DeleteEndpoint (the engine's undo) to take: an endpoint the engine neither joins nor
 * deletes (it died right after CreateEndpoint) keeps its entry until the plugin restarts.
 */
export class PendingPublishes {
  private readonly pending = new Map<string, Promise<Outcome>>();

  /** Starts `publish` for the endpoint; its failure is held here, never left unhandled. */
  start(endpointId: string, publish: () => Promise<void>): void {
    const outcome: Promise<Outcome> = publish().then(
      () => {
        if (this.pending.get(endpointId) === outcome) this.pending.delete(endpointId);
        return undefined;
      },
      (err: unknown) => ({ failed: err }),
    );
    this.pending.set(endpointId, outcome);
  }

  /**
   * Waits for the endpoint's write if one is under way, and throws its error if it failed (at
   * every call, until finish). Resolves at once for an endpoint with nothing pending.
   */
  async settle(endpointId: string): Promise<void> {
    const result = await this.pending.get(endpointId);
    if (result) throw result.failed;
  }

  /** Waits like settle, then forgets the endpoint; returns the write's error rather than throwing it. */
  async finish(endpointId: string): Promise<unknown> {
    const outcome = this.pending.get(endpointId);
    const result = await outcome;
    if (outcome && this.pending.get(endpointId) === outcome) this.pending.delete(endpointId);
    return result?.failed;
  }

  /** A write of the endpoint is under way, or failed and not yet taken by finish. */
  has(endpointId: string): boolean {
    return this.pending.has(endpointId);
  }

  /** Waits for every write under way (before the etcd client closes). */
  async drain(): Promise<void> {
    await Promise.all(this.pending.values());
  }
}
