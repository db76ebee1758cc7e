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
 * A write that failed is kept until Join or DeleteEndpoint (the engine's rollback) takes its
 * error; one that succeeded leaves no trace here.
 */
export class PendingPublishes {
  private readonly pending = new Map<string, Promise<Outcome>>();

  /** Starts `publish` for the endpoint; its failure is held for settle(), never left unhandled. */
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
   * Waits for the endpoint's write if one is under way, and throws its error if it failed;
   * the failure is then forgotten. Resolves at once for an endpoint with nothing pending.
   */
  async settle(endpointId: string): Promise<void> {
    const outcome = this.pending.get(endpointId);
    if (!outcome) return;
    const result = await outcome;
    if (this.pending.get(endpointId) === outcome) this.pending.delete(endpointId);
    if (result) throw result.failed;
  }
}
