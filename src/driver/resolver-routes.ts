/**
 * Which containers (sandboxes) already have the route to the DNS responder. Join gives the
 * route on a container's first ts-overlay network only: the engine adds an interface's routes
 * with create-exclusive, so a second `169.254.53.53/32 dev eth1` next to `dev eth0` would fail
 * the whole connect with "file exists". The route leaves with the interface that holds it.
 */
export class ResolverRoutes {
  private readonly holderBySandbox = new Map<string, string>();
  private readonly sandboxByEndpoint = new Map<string, string>();

  /** True when this endpoint's Join should carry the route (no other endpoint of the sandbox has it). */
  claim(sandboxKey: string, endpointId: string): boolean {
    const holder = this.holderBySandbox.get(sandboxKey);
    if (holder !== undefined && holder !== endpointId) return false;
    this.holderBySandbox.set(sandboxKey, endpointId);
    this.sandboxByEndpoint.set(endpointId, sandboxKey);
    return true;
  }

  /** The endpoint left its sandbox (Leave, DeleteEndpoint); the route went with its interface. */
  release(endpointId: string): void {
    const sandbox = this.sandboxByEndpoint.get(endpointId);
    if (sandbox === undefined) return;
    this.sandboxByEndpoint.delete(endpointId);
    if (this.holderBySandbox.get(sandbox) === endpointId) this.holderBySandbox.delete(sandbox);
  }

  /**
   * What a restarted plugin learns from the engine: a running container with ts-overlay
   * endpoints got the route with one of them. Which one is not recorded anywhere; the first
   * is taken, which is right for the common case of one ts-overlay network per container.
   */
  learn(sandboxKey: string, endpointIds: readonly string[]): void {
    if (!sandboxKey || endpointIds.length === 0 || this.holderBySandbox.has(sandboxKey)) return;
    if (endpointIds.some((e) => this.sandboxByEndpoint.has(e))) return;
    this.holderBySandbox.set(sandboxKey, endpointIds[0]!);
    this.sandboxByEndpoint.set(endpointIds[0]!, sandboxKey);
  }
}
