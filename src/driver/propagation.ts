import type { EngineClient, EngineNetwork } from '../docker/engine-client.js';
import { CLUSTER_ID_OPTION } from '../ipam/ipam-service.js';
import { crashPoint } from '../lib/crash-point.js';
import { errorMessage } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { PendingRetry, sleep } from '../lib/retry.js';
import type { ClusterStore } from '../store/cluster-store.js';
import type { NetworkRecord } from '../store/records.js';

/**
 * One network, every host. The engine never tells a plugin a network's name and keeps its
 * network objects to itself, so ts-overlay makes the engines agree through their API:
 *  - the creating host learns the name from its engine and publishes it in etcd;
 *  - every host creates, through its own engine, each published network it lacks, marked
 *    with the cluster ID (-o ts-overlay.id) so that the plugin recognises the copy;
 *  - every host removes from its engine the copies of networks that left the cluster.
 * A sync compares the two lists and acts; it runs on engine events, etcd events, at start
 * and periodically, one at a time.
 */
export class Propagation {
  private running: Promise<void> | undefined;
  private again = false;
  private failing = false;
  private readonly abort = new AbortController();
  private watch: { close(): Promise<void> } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly retry = new PendingRetry(2000, () => this.schedule());

  constructor(
    private readonly driverName: string,
    private readonly engine: EngineClient,
    private readonly store: ClusterStore,
    private readonly log: Logger,
    /** Called when the engine's event stream (re)connects: the engine may have restarted. */
    private readonly onEngineConnected: () => void = () => undefined,
    private readonly periodMs = 30_000,
  ) {}

  async start(): Promise<void> {
    const { revision } = await this.store.listNetworks();
    this.watch = this.store.watchNetworks(revision, {
      onPut: () => this.schedule(),
      onDelete: () => this.schedule(),
      onResync: () => this.schedule(),
    });
    void this.followEngineEvents();
    this.timer = setInterval(() => this.schedule(), this.periodMs);
    this.schedule();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    clearInterval(this.timer);
    this.retry.cancel();
    await this.watch?.close();
    await this.running;
  }

  /** Runs a sync now, or right after the one in progress. */
  schedule(): void {
    if (this.abort.signal.aborted) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      do {
        this.again = false;
        try {
          await this.sync();
          if (this.failing) this.log.info('network sync works again');
          this.failing = false;
          this.retry.cancel(); // in line: a retry armed by an earlier failure has nothing to do
        } catch (err) {
          // Once per streak at warn (an engine that is down stays down a while), then quietly.
          this.log[this.failing ? 'debug' : 'warn']({ err: errorMessage(err) }, 'network sync failed; retrying every 2 s');
          this.failing = true;
          this.retry.arm();
        }
      } while (this.again && !this.abort.signal.aborted);
    })().finally(() => (this.running = undefined));
  }

  private async sync(): Promise<void> {
    // The engine first, etcd after: a network this host's engine lists had its record written
    // before the engine got it (CreateNetwork writes, then answers), so a later listing of etcd
    // has it. Read the other way round (or at once), a network made in between is in the
    // engine's listing and not etcd's, and would be removed as one the cluster dropped.
    const engineNetworks = await this.engine.listNetworks(this.driverName);
    const { networks } = await this.store.listNetworks();
    const cluster = new Map(networks.map((n) => [n.id, n]));
    const present = new Set<string>();

    // One network the engine refuses must not hold up the others; the sync as a whole fails
    // (and is retried in 2 s) if any did.
    const failures: string[] = [];
    const attempt = async (what: string, step: () => Promise<void>) => {
      try {
        await step();
      } catch (err) {
        failures.push(`${what}: ${errorMessage(err)}`);
      }
    };
    for (const en of engineNetworks) {
      if (en.Driver !== this.driverName) continue;
      const clusterId = en.Options?.[CLUSTER_ID_OPTION] ?? en.Id;
      present.add(clusterId);
      const record = cluster.get(clusterId);
      if (!record) {
        await attempt(`could not remove network ${en.Name} from this host`, () => this.removeCopy(en));
      } else if (record.name === undefined && en.Id === record.id) {
        await attempt(`could not publish network ${en.Name}`, () => this.publish(en));
      }
    }
    for (const record of cluster.values()) {
      if (record.name !== undefined && !present.has(record.id)) await attempt(`could not create network ${record.name} on this host`, () => this.createCopy(record));
    }
    if (failures.length) throw new Error(failures.join('; '));
  }

  /** The creating host reports what only its engine knows: name, labels, flags. */
  private async publish(en: EngineNetwork): Promise<void> {
    const config = en.IPAM.Config?.[0];
    await this.store.updateNetwork(en.Id, (n) => ({
      ...n,
      name: en.Name,
      internal: en.Internal,
      attachable: en.Attachable,
      labels: en.Labels ?? {},
      ...(config?.IPRange ? { ipRange: config.IPRange } : {}),
    }));
    crashPoint('propagation.name-published');
    this.log.info({ network: en.Id, name: en.Name }, 'network published to the cluster');
  }

  private async createCopy(record: NetworkRecord): Promise<void> {
    const gateway = record.gateway.split('/')[0]!;
    const auxiliary = Object.fromEntries(Object.entries(record.auxAddresses).map(([k, v]) => [k, v.split('/')[0]!]));
    crashPoint('propagation.copy-requested');
    const { Id } = await this.engine.createNetwork({
      Name: record.name!,
      Driver: this.driverName,
      CheckDuplicate: true,
      Internal: record.internal,
      Attachable: record.attachable,
      Labels: { ...record.labels },
      Options: { ...record.options, [CLUSTER_ID_OPTION]: record.id },
      IPAM: {
        Driver: this.driverName,
        Options: { [CLUSTER_ID_OPTION]: record.id },
        Config: [{ Subnet: record.subnet, Gateway: gateway, ...(record.ipRange ? { IPRange: record.ipRange } : {}), ...(Object.keys(auxiliary).length ? { AuxiliaryAddresses: auxiliary } : {}) }],
      },
    });
    crashPoint('propagation.copy-created');
    this.log.info({ network: record.id, name: record.name, engineId: Id }, 'network copied to this host');
  }

  private async removeCopy(en: EngineNetwork): Promise<void> {
    await this.engine.removeNetwork(en.Id);
    this.log.info({ engineId: en.Id, name: en.Name }, 'network left the cluster; removed from this host');
  }

  private async followEngineEvents(): Promise<void> {
    let delay = 250;
    while (!this.abort.signal.aborted) {
      try {
        await this.engine.streamEvents({ type: ['network'] }, (e) => {
          if (e.Actor.Attributes.type === this.driverName && (e.Action === 'create' || e.Action === 'destroy')) this.schedule();
        }, this.abort.signal, () => {
          delay = 250;
          this.schedule(); // catch up on anything missed while disconnected
          this.onEngineConnected();
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
