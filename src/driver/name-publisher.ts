import { type EngineClient, type EngineContainer, EngineError } from '../docker/engine-client.js';
import { errorMessage } from '../lib/errors.js';
import { KeyedQueue } from '../lib/keyed-queue.js';
import type { Logger } from '../lib/logger.js';
import { sleep } from '../lib/retry.js';
import type { ClusterStore } from '../store/cluster-store.js';
import type { NameRecord } from '../store/records.js';
import type { LocalState } from './local-state.js';
import type { ResolverRoutes } from './resolver-routes.js';

/**
 * Publishes the names of this host's containers on ts-overlay networks to etcd, for every
 * host's DNS responder. The plugin API never carries a container's name, so it comes from the
 * engine: a `network connect` event (sent while the container starts) or a container `start`
 * makes the publisher inspect the container and write one NameRecord per ts-overlay endpoint.
 * Records go when the container dies (`die` event) and with their endpoint (DeleteEndpoint, in
 * one transaction), and a write is refused once the endpoint is gone, so a name never
 * outlives its address. A reconcile at
 * start and every `periodMs` writes what events missed and removes what nothing holds.
 */
export class NamePublisher {
  /** endpoint ID -> the record last written, to skip writes that change nothing. */
  private readonly published = new Map<string, string>();
  /** container ID -> its records written by this host, to take them back when it dies. */
  private readonly byContainer = new Map<string, NameRecord[]>();
  private readonly queue = new KeyedQueue();
  private readonly abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private reconciling: Promise<void> | undefined;

  constructor(
    private readonly node: string,
    private readonly driverName: string,
    private readonly engine: EngineClient,
    private readonly store: ClusterStore,
    private readonly local: LocalState,
    private readonly routes: ResolverRoutes,
    private readonly log: Logger,
    private readonly periodMs = 30_000,
  ) {}

  start(): void {
    void this.followEngineEvents();
    this.timer = setInterval(() => void this.reconcile(), this.periodMs);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.timer);
    await this.reconciling;
  }

  /** Inspects one container and writes its names on each ts-overlay network it is on. */
  publish(containerId: string): Promise<void> {
    return this.queue.run(containerId, async () => {
      let container: EngineContainer;
      try {
        container = await this.engine.inspectContainer(containerId);
      } catch (err) {
        if (err instanceof EngineError && err.status === 404) return; // already removed
        throw err;
      }
      // A container that is not running has no names (its `start` event publishes them).
      if (container.State?.Running === false) return;
      const ours: string[] = [];
      for (const record of this.recordsOf(container)) {
        ours.push(record.endpoint);
        const text = JSON.stringify(record);
        if (this.published.get(record.endpoint) === text) continue;
        if (await this.store.putName(record)) {
          this.published.set(record.endpoint, text);
          this.byContainer.set(container.Id, [...(this.byContainer.get(container.Id) ?? []).filter((r) => r.endpoint !== record.endpoint), record]);
          this.log.debug({ container: container.Name, names: record.names, ip: record.ip }, 'names published');
        }
      }
      this.routes.learn(container.NetworkSettings?.SandboxKey ?? '', ours);
    });
  }

  /**
   * The container died: its names go at once (its endpoints, and their names with them, are
   * deleted a moment later when the engine releases its network; a name must not answer for
   * an address nobody holds meanwhile). A restart publishes them again on `start`.
   */
  forget(containerId: string): Promise<void> {
    return this.queue.run(containerId, async () => {
      for (const r of this.byContainer.get(containerId) ?? []) {
        await this.store.deleteName(r.network, r.endpoint);
        this.published.delete(r.endpoint);
      }
      this.byContainer.delete(containerId);
    });
  }

  /** Names of this host's containers written again where missing; names nothing holds removed. */
  reconcile(): Promise<void> {
    this.reconciling ??= (async () => {
      try {
        const { entries } = await this.store.listNames();
        const containers = new Set<string>();
        const attached = new Set<string>();
        for (const net of this.local.networks()) {
          const found = (await this.engine.inspectNetwork(net.engineId).catch((err: unknown) => {
            if (err instanceof EngineError && err.status === 404) return { Containers: {} };
            throw err;
          })).Containers ?? {};
          for (const [id, c] of Object.entries(found) as Array<[string, { EndpointID?: string }]>) {
            containers.add(id);
            if (c.EndpointID) attached.add(c.EndpointID);
          }
        }
        for (const id of containers) await this.publish(id).catch((err: unknown) => this.log.debug({ err: errorMessage(err), container: id }, 'could not publish names'));
        for (const e of entries) {
          if (e.value.node !== this.node || attached.has(e.value.endpoint)) continue;
          await this.store.deleteName(e.value.network, e.value.endpoint);
          this.published.delete(e.value.endpoint);
          this.log.info({ names: e.value.names, ip: e.value.ip }, 'removed names of a container that is gone');
        }
        for (const endpoint of this.published.keys()) if (!attached.has(endpoint)) this.published.delete(endpoint);
        for (const [id, records] of this.byContainer) {
          const left = records.filter((r) => attached.has(r.endpoint));
          if (left.length) this.byContainer.set(id, left);
          else this.byContainer.delete(id);
        }
      } catch (err) {
        this.log.debug({ err: errorMessage(err) }, 'name reconcile failed; retrying on the next pass');
      }
    })().finally(() => (this.reconciling = undefined));
    return this.reconciling;
  }

  /** One record per endpoint of the container on a ts-overlay network of this host. */
  private recordsOf(c: EngineContainer): NameRecord[] {
    const records: NameRecord[] = [];
    const name = c.Name.replace(/^\//, '');
    for (const settings of Object.values(c.NetworkSettings?.Networks ?? {})) {
      const net = settings.NetworkID ? this.local.network(settings.NetworkID) : undefined;
      if (!net || !settings.EndpointID || !settings.IPAddress) continue;
      const names = [name, ...(settings.DNSNames ?? []), ...(settings.Aliases ?? []), c.Id.slice(0, 12)].map((n) => n.toLowerCase()).filter(Boolean);
      records.push({ endpoint: settings.EndpointID, network: net.record.id, container: c.Id, names: [...new Set(names)], ip: settings.IPAddress, node: this.node });
    }
    return records;
  }

  private async followEngineEvents(): Promise<void> {
    let delay = 250;
    const filters = { type: ['container', 'network'], event: ['start', 'connect', 'die'] };
    while (!this.abort.signal.aborted) {
      try {
        await this.engine.streamEvents(filters, (e) => {
          if (e.Type === 'container' && e.Action === 'die') {
            const container = e.Actor.ID;
            void this.forget(container).catch((err: unknown) => this.log.warn({ err: errorMessage(err), container }, 'could not remove the names of a dead container; they go with its endpoints'));
            return;
          }
          const container = e.Type === 'network' ? (e.Actor.Attributes.type === this.driverName ? e.Actor.Attributes.container : undefined) : e.Actor.ID;
          if (container) void this.publish(container).catch((err: unknown) => this.log.warn({ err: errorMessage(err), container }, 'could not publish the names of a container; the next reconcile tries again'));
        }, this.abort.signal, () => {
          delay = 250;
          void this.reconcile(); // catch up on what happened while disconnected
        });
      } catch (err) {
        this.log.debug({ err: errorMessage(err) }, 'engine events unavailable; retrying');
      }
      if (this.abort.signal.aborted) return;
      await sleep(delay);
      delay = Math.min(delay * 2, 5000);
    }
  }
}
