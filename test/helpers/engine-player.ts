import { randomBytes } from 'node:crypto';
import type { Exchange } from '../../src/conformance/client.js';
import { judge } from '../../src/conformance/docker-rules.js';
import { randomDockerId } from '../../src/conformance/ipv4.js';
import type { ClusterHost } from './plugin-cluster.js';

/**
 * The engine's side of the plugin API, call for call as dockerd 20.10 sequences it
 * (../shared notes, test/conformance): `docker network create` is RequestPool,
 * RequestAddress (gateway, then each aux address), CreateNetwork; `docker run` is
 * RequestAddress, CreateEndpoint, Join; the way back is Leave, DeleteEndpoint, ReleaseAddress;
 * `docker network rm` is ReleaseAddress (aux, gateway), ReleasePool, DeleteNetwork.
 * Like dockerd, it undoes the earlier steps when a step is refused, cannot undo anything when
 * the plugin is gone (the undo calls fail too), and forgets a removed object whatever the
 * plugin answers. What it ends up holding is the engine's view: `networks` and `containers`,
 * mirrored into the host's FakeEngine for the plugin to read.
 */
export const ADDRESS_SPACE = 'ts-overlay';
const CLUSTER_ID = 'ts-overlay.id';
const GATEWAY = { RequestAddressType: 'com.docker.network.gateway' };

export interface EngineNet {
  readonly engineId: string;
  readonly clusterId: string;
  /** As RequestPool gave it; Docker sends it back on every later IPAM call of the network. */
  readonly poolId: string;
  readonly subnet: string;
  readonly gateway: string; // with prefix
  readonly aux: Readonly<Record<string, string>>; // name -> ip/prefix
}

export interface EngineCtr {
  readonly endpointId: string;
  readonly engineNet: string;
  readonly clusterId: string;
  readonly poolId: string;
  readonly subnet: string;
  readonly ip: string; // with prefix
  readonly mac: string;
  /** The interface Join named (SrcName): the endpoint's own, or a spare made ahead. */
  readonly port: string;
}

/** A refused call (the plugin answered with an error) or a lost one (no answer: it died). */
export class CallFailed extends Error {
  constructor(
    readonly path: string,
    readonly answered: boolean,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
  }
}

/** What dockerd itself refuses before asking the plugin anything (a network with containers on it). */
export class EngineRefused extends Error {}

export class EnginePlayer {
  /** Containers being started per network: dockerd does not remove a network under them. */
  private readonly starting = new Map<string, number>();
  readonly networks = new Map<string, EngineNet>();
  readonly containers = new Map<string, EngineCtr>();
  /** Plugin API calls sent, by path. */
  readonly calls = new Map<string, number>();

  constructor(readonly host: ClusterHost) {
    // Propagation asks this host's engine for copies of cluster networks, and to remove them.
    if (host.engine) {
      host.engine.onCreate = async (body) => {
        const config = body.IPAM.Config[0] ?? {};
        const clusterId = body.Options[CLUSTER_ID] ?? body.IPAM.Options[CLUSTER_ID];
        const aux = (config['AuxiliaryAddresses'] ?? {}) as Record<string, string>;
        const net = await this.createNetwork({
          ...(typeof config['Subnet'] === 'string' ? { subnet: config['Subnet'] } : {}),
          ...(typeof config['Gateway'] === 'string' ? { gateway: config['Gateway'] } : {}),
          ...(clusterId ? { clusterId } : {}),
          aux,
          options: body.Options,
          name: body.Name,
        });
        return net.engineId;
      };
      host.engine.onRemove = async (id) => void (await this.removeNetwork(id));
    }
  }

  get sent(): number {
    return [...this.calls.values()].reduce((a, b) => a + b, 0);
  }

  async call(path: string, body?: unknown): Promise<Record<string, unknown>> {
    this.calls.set(path, (this.calls.get(path) ?? 0) + 1);
    const x: Exchange = await this.host.client.call(path, body);
    const v = judge(path, x.reply);
    if (!v.success) throw new CallFailed(path, v.answered, v.reason);
    return v.body;
  }

  /** `docker network create`; `clusterId` makes this host's copy of a cluster network (propagation). */
  async createNetwork(o: { subnet?: string; gateway?: string; vni?: number; aux?: Record<string, string>; clusterId?: string; options?: Record<string, string>; name?: string } = {}): Promise<EngineNet> {
    const engineId = randomDockerId();
    const undo: Array<() => Promise<unknown>> = [];
    try {
      const pool = await this.call('/IpamDriver.RequestPool', {
        AddressSpace: ADDRESS_SPACE,
        Pool: o.subnet ?? '',
        SubPool: '',
        Options: o.clusterId ? { [CLUSTER_ID]: o.clusterId } : {},
        V6: false,
      });
      const poolId = String(pool['PoolID']);
      const subnet = String(pool['Pool']);
      undo.push(() => this.call('/IpamDriver.ReleasePool', { PoolID: poolId }));
      const gw = await this.call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: o.gateway ?? '', Options: GATEWAY });
      const gateway = String(gw['Address']);
      undo.push(() => this.call('/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: gateway.split('/')[0] }));
      const aux: Record<string, string> = {};
      for (const [name, ip] of Object.entries(o.aux ?? {})) {
        const got = await this.call('/IpamDriver.RequestAddress', { PoolID: poolId, Address: ip, Options: {} });
        aux[name] = String(got['Address']);
        undo.push(() => this.call('/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip }));
      }
      const generic: Record<string, string> = { ...o.options };
      if (o.vni !== undefined) generic['vni'] = String(o.vni);
      if (o.clusterId) generic[CLUSTER_ID] = o.clusterId;
      await this.call('/NetworkDriver.CreateNetwork', {
        NetworkID: engineId,
        Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': generic },
        IPv4Data: [{ AddressSpace: ADDRESS_SPACE, Pool: subnet, Gateway: gateway, AuxAddresses: aux }],
        IPv6Data: [],
      });
      const net: EngineNet = { engineId, clusterId: o.clusterId ?? engineId, poolId, subnet, gateway, aux };
      this.networks.set(engineId, net);
      this.host.engine?.addNetwork({
        Id: engineId,
        Name: o.name ?? `n-${engineId.slice(0, 8)}`,
        Driver: this.host.driverName,
        Internal: false,
        Attachable: false,
        EnableIPv6: false,
        Options: o.clusterId ? { [CLUSTER_ID]: o.clusterId } : {},
        Labels: {},
        IPAM: { Driver: this.host.driverName, Options: {}, Config: [{ Subnet: subnet, Gateway: gateway.split('/')[0]! }] },
        Containers: {},
      });
      return net;
    } catch (err) {
      await this.rollback(err, undo);
      throw err;
    }
  }

  /** `docker network rm`: the engine drops the network whatever the plugin answers; errors are returned. */
  async removeNetwork(engineId: string): Promise<CallFailed[]> {
    const net = this.networks.get(engineId);
    if (!net) return []; // removed already (by propagation, or twice)
    if ((this.starting.get(engineId) ?? 0) > 0 || [...this.containers.values()].some((c) => c.engineNet === engineId)) {
      throw new EngineRefused(`network ${engineId} has active endpoints`);
    }
    this.networks.delete(engineId);
    this.host.engine?.dropNetwork(engineId);
    return this.all([
      ...Object.values(net.aux).map((ip) => () => this.call('/IpamDriver.ReleaseAddress', { PoolID: net.poolId, Address: ip.split('/')[0] })),
      () => this.call('/IpamDriver.ReleaseAddress', { PoolID: net.poolId, Address: net.gateway.split('/')[0] }),
      () => this.call('/IpamDriver.ReleasePool', { PoolID: net.poolId }),
      () => this.call('/NetworkDriver.DeleteNetwork', { NetworkID: engineId }),
    ]);
  }

  /** `docker run --net`: address, endpoint, join; the container then counts as attached. */
  async run(engineId: string): Promise<EngineCtr> {
    const net = this.networks.get(engineId);
    if (!net) throw new EngineRefused(`network ${engineId} not found`);
    this.starting.set(engineId, (this.starting.get(engineId) ?? 0) + 1);
    try {
      return await this.start(net);
    } finally {
      this.starting.set(engineId, this.starting.get(engineId)! - 1);
    }
  }

  private async start(net: EngineNet): Promise<EngineCtr> {
    const engineId = net.engineId;
    const endpointId = randomDockerId();
    const ids = { NetworkID: engineId, EndpointID: endpointId };
    const undo: Array<() => Promise<unknown>> = [];
    try {
      const got = await this.call('/IpamDriver.RequestAddress', { PoolID: net.poolId, Address: '', Options: {} });
      const ip = String(got['Address']);
      undo.push(() => this.call('/IpamDriver.ReleaseAddress', { PoolID: net.poolId, Address: ip.split('/')[0] }));
      const ep = await this.call('/NetworkDriver.CreateEndpoint', { ...ids, Interface: { Address: ip, AddressIPv6: '', MacAddress: '' }, Options: {} });
      const mac = String((ep['Interface'] as Record<string, unknown> | undefined)?.['MacAddress'] ?? '');
      undo.push(() => this.call('/NetworkDriver.DeleteEndpoint', ids));
      const joined = await this.call('/NetworkDriver.Join', { ...ids, SandboxKey: `/var/run/docker/netns/${randomBytes(6).toString('hex')}`, Options: {} });
      const port = String((joined['InterfaceName'] as Record<string, unknown> | undefined)?.['SrcName'] ?? '');
      const ctr: EngineCtr = { endpointId, engineNet: engineId, clusterId: net.clusterId, poolId: net.poolId, subnet: net.subnet, ip, mac, port };
      this.containers.set(endpointId, ctr);
      const en = this.host.engine?.networks.get(engineId);
      if (en) en.Containers[`c-${endpointId.slice(0, 12)}`] = { EndpointID: endpointId, MacAddress: mac, IPv4Address: ip };
      return ctr;
    } catch (err) {
      await this.rollback(err, undo);
      throw err;
    }
  }

  /** The container stops: the engine forgets it whatever the plugin answers; errors are returned. */
  async stop(endpointId: string): Promise<CallFailed[]> {
    const c = this.containers.get(endpointId)!;
    this.containers.delete(endpointId);
    const en = this.host.engine?.networks.get(c.engineNet);
    if (en) delete en.Containers[`c-${endpointId.slice(0, 12)}`];
    const ids = { NetworkID: c.engineNet, EndpointID: endpointId };
    return this.all([
      () => this.call('/NetworkDriver.Leave', ids),
      () => this.call('/NetworkDriver.DeleteEndpoint', ids),
      () => this.call('/IpamDriver.ReleaseAddress', { PoolID: c.poolId, Address: c.ip.split('/')[0] }),
    ]);
  }

  private async all(steps: Array<() => Promise<unknown>>): Promise<CallFailed[]> {
    const failed: CallFailed[] = [];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        if (!(err instanceof CallFailed)) throw err;
        failed.push(err);
      }
    }
    return failed;
  }

  /** Undo after a refusal; after a lost call the plugin is gone and so would the undo calls be. */
  private async rollback(err: unknown, undo: Array<() => Promise<unknown>>): Promise<void> {
    if (!(err instanceof CallFailed) || !err.answered) return;
    for (const step of undo.reverse()) {
      await step().catch((e: unknown) => {
        throw new Error(`undo after "${err.message}" failed: ${e instanceof Error ? e.message : String(e)}`);
      });
    }
  }
}
