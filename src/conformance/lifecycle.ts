import { randomBytes } from 'node:crypto';
import { describeExchange, type Exchange, type PluginClient } from './client.js';
import { goField, judge, misplacedErrorNote } from './docker-rules.js';
import { stillAnswers, type Roles } from './handshake.js';
import { hostInPool, type Prefixed, parsePrefixed, randomDockerId } from './ipv4.js';
import { Ledger } from './ledger.js';
import * as shape from './reply-shapes.js';
import type { CheckLog } from './results.js';

export interface LifecycleOptions {
  readonly roles: Roles;
  /** The IPAM's local default address space, or "LocalDefault" when Docker's IPAM stands in. */
  readonly addressSpace: string;
  /** Used when the plugin's own IPAM is not tested: gateway .1, endpoint .2. */
  readonly pool: string;
  readonly requiresMacAddress: boolean;
}

const GATEWAY_OPTION = { RequestAddressType: 'com.docker.network.gateway' };
const MAC_OPTION = 'com.docker.network.endpoint.macaddress';

type Call = { x: Exchange; ok: true; body: Record<string, unknown> } | { x: Exchange; ok: false; why: string };

/**
 * One network with one container, call for call as dockerd 20.10 sends them (create, run,
 * stop, remove), with the repeats an engine makes when it retries and the out-of-order calls a
 * confused engine makes. A failed call that later calls depend on stops the cycle: the checks
 * left are reported as not run, and everything held is given back all the same.
 */
export async function runLifecycle(client: PluginClient, log: CheckLog, opts: LifecycleOptions): Promise<void> {
  const cycle = new Lifecycle(client, log, opts);
  try {
    await cycle.run();
  } finally {
    await cycle.finish();
  }
}

class Lifecycle {
  private readonly ledger = new Ledger();
  private readonly networkId = randomDockerId();
  private readonly endpointId = randomDockerId();
  private readonly sandboxKey = `/var/run/docker/netns/${randomBytes(6).toString('hex')}`;
  private readonly mac: string;
  /** Set by the first failure that later calls depend on. */
  private stopped: string | undefined;
  private poolId = '';
  private pool: Prefixed | undefined;
  private poolText = '';
  private gateway = '';
  private address = '';

  constructor(
    private readonly client: PluginClient,
    private readonly log: CheckLog,
    private readonly opts: LifecycleOptions,
  ) {
    // The engine makes up a MAC and hands it to RequestAddress only when the IPAM asks for it.
    this.mac = opts.requiresMacAddress ? `02:${randomBytes(5).toString('hex').match(/../g)!.join(':')}` : '';
  }

  async run(): Promise<void> {
    const { network, ipam } = this.opts.roles;
    const ids = { NetworkID: this.networkId, EndpointID: this.endpointId };

    if (ipam) {
      await this.requestPool();
      await this.requestAddress('lifecycle.request-gateway-address', 'gateway', GATEWAY_OPTION);
    } else {
      this.usePoolFromOptions();
    }
    if (network) {
      await this.createNetwork('lifecycle.create-network', true);
      await this.createNetwork('repeat.create-network', false);
      await this.joinUnknownEndpoint();
    }
    if (ipam) await this.requestAddress('lifecycle.request-endpoint-address', 'address', this.mac ? { [MAC_OPTION]: this.mac } : {});
    else if (!this.stopped) this.address = hostInPool(this.pool!, 2);

    if (network) {
      await this.createEndpoint();
      await this.expectShape('lifecycle.endpoint-oper-info', '/NetworkDriver.EndpointOperInfo', ids, shape.operInfoProblems);
      const joined = await this.join();
      await this.release('lifecycle.leave', '/NetworkDriver.Leave', ids, 'join', joined ? undefined : 'Join failed');
      const deleted = await this.release('lifecycle.delete-endpoint', '/NetworkDriver.DeleteEndpoint', ids, 'endpoint');
      await this.release('repeat.delete-endpoint', '/NetworkDriver.DeleteEndpoint', ids, undefined, deleted ? undefined : 'DeleteEndpoint failed');
    }
    if (ipam) {
      const endpointIp = { PoolID: this.poolId, Address: this.address.split('/')[0] };
      const released = await this.release('lifecycle.release-address', '/IpamDriver.ReleaseAddress', endpointIp, 'address');
      await this.release('repeat.release-address', '/IpamDriver.ReleaseAddress', endpointIp, undefined, released ? undefined : 'ReleaseAddress failed');
      await this.release('lifecycle.release-gateway-address', '/IpamDriver.ReleaseAddress', { PoolID: this.poolId, Address: this.gateway.split('/')[0] }, 'gateway');
      const poolReleased = await this.release('lifecycle.release-pool', '/IpamDriver.ReleasePool', { PoolID: this.poolId }, 'pool');
      await this.release('repeat.release-pool', '/IpamDriver.ReleasePool', { PoolID: this.poolId }, undefined, poolReleased ? undefined : 'ReleasePool failed');
      await this.requestAddressOnReleasedPool(poolReleased);
    }
    if (network) {
      const gone = await this.release('lifecycle.delete-network', '/NetworkDriver.DeleteNetwork', { NetworkID: this.networkId }, 'network');
      await this.release('repeat.delete-network', '/NetworkDriver.DeleteNetwork', { NetworkID: this.networkId }, undefined, gone ? undefined : 'DeleteNetwork failed');
    }
  }

  /** The cleanup check: the cycle should have released everything; the kit releases the rest. */
  async finish(): Promise<void> {
    const left = this.ledger.remaining();
    if (left.length === 0) return this.log.pass('cleanup.nothing-left', 'the cycle released everything it created');
    const refused = await this.ledger.giveBackAll();
    const outcome = refused.length === 0 ? 'the kit gave all of it back' : `the kit could not give back: ${refused.join('; ')}`;
    this.log.fail('cleanup.nothing-left', `the cycle ended holding ${left.join(', ')}${this.stopped ? ` (${this.stopped})` : ''}; ${outcome}`);
  }

  private async call(path: string, args: unknown): Promise<Call> {
    const x = await this.client.call(path, args);
    const v = judge(path, x.reply);
    return v.success ? { x, ok: true, body: v.body } : { x, ok: false, why: `${v.reason}: ${describeExchange(x)}` };
  }

  /** True when the check may run; otherwise reports it as not run. */
  private canRun(name: string, missing?: string): boolean {
    const reason = this.stopped ?? missing;
    if (reason) this.log.fail(name, `not run: ${reason}`);
    return !reason;
  }

  private stop(name: string): void {
    this.stopped ??= `${name} failed`;
  }

  private usePoolFromOptions(): void {
    this.pool = parsePrefixed(this.opts.pool);
    this.poolText = this.opts.pool;
    this.gateway = hostInPool(this.pool!, 1);
  }

  private async requestPool(): Promise<void> {
    const name = 'lifecycle.request-pool';
    if (!this.canRun(name)) return;
    const r = await this.call('/IpamDriver.RequestPool', { AddressSpace: this.opts.addressSpace, Pool: '', SubPool: '', Options: {}, V6: false });
    if (!r.ok) return (this.log.fail(name, r.why), this.stop(name));
    const { problems, poolId, pool, poolText } = shape.requestPoolProblems(r.body);
    if (poolId) {
      this.poolId = poolId;
      this.ledger.hold('pool', `pool ${poolId}`, () => this.client.call('/IpamDriver.ReleasePool', { PoolID: poolId }));
    }
    if (!this.log.verdict(name, problems.map((p) => `${p}: ${describeExchange(r.x)}`), `PoolID ${poolId}, Pool ${poolText}`)) return this.stop(name);
    this.pool = pool;
    this.poolText = poolText!;
  }

  private async requestAddress(name: string, key: 'gateway' | 'address', options: Record<string, string>): Promise<void> {
    if (!this.canRun(name)) return;
    const r = await this.call('/IpamDriver.RequestAddress', { PoolID: this.poolId, Address: '', Options: options });
    if (!r.ok) return (this.log.fail(name, r.why), this.stop(name));
    const { problems, address } = shape.requestAddressProblems(r.body, this.pool!, this.poolText);
    if (key === 'address' && address && address.split('/')[0] === this.gateway.split('/')[0]) problems.push(`the gateway's address ${address} was handed out again`);
    if (address) {
      this.ledger.hold(key, `${key} address ${address}`, () => this.client.call('/IpamDriver.ReleaseAddress', { PoolID: this.poolId, Address: address.split('/')[0] }));
      this[key] = address;
    }
    if (!this.log.verdict(name, problems.map((p) => `${p}: ${describeExchange(r.x)}`), `Address ${address}`)) this.stop(name);
  }

  /** The first creation, or (first = false) the same request again, as a retrying engine sends it. */
  private async createNetwork(name: string, first: boolean): Promise<void> {
    if (!this.canRun(name)) return;
    const r = await this.call('/NetworkDriver.CreateNetwork', {
      NetworkID: this.networkId,
      Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': {} },
      IPv4Data: [{ AddressSpace: this.opts.addressSpace, Gateway: this.gateway, Pool: this.poolText }],
      IPv6Data: [],
    });
    if (!r.ok) {
      this.log.fail(name, first ? r.why : `a repeated CreateNetwork for the same NetworkID failed: ${r.why}`);
      if (first) this.stop(name);
      return;
    }
    if (first) this.ledger.hold('network', `network ${this.networkId.slice(0, 12)}`, () => this.client.call('/NetworkDriver.DeleteNetwork', { NetworkID: this.networkId }));
    this.log.pass(name, first ? `network ${this.networkId.slice(0, 12)} on ${this.poolText}, gateway ${this.gateway}` : 'the repeat succeeded');
  }

  private async createEndpoint(): Promise<void> {
    const name = 'lifecycle.create-endpoint';
    if (!this.canRun(name)) return;
    const iface = { Address: this.address, AddressIPv6: '', MacAddress: this.mac };
    const r = await this.call('/NetworkDriver.CreateEndpoint', { NetworkID: this.networkId, EndpointID: this.endpointId, Interface: iface, Options: {} });
    if (!r.ok) return (this.log.fail(name, r.why), this.stop(name));
    this.ledger.hold('endpoint', `endpoint ${this.endpointId.slice(0, 12)}`, () =>
      this.client.call('/NetworkDriver.DeleteEndpoint', { NetworkID: this.networkId, EndpointID: this.endpointId }));
    const problems = shape.createEndpointProblems(r.body, iface);
    this.log.verdict(name, problems.map((p) => `${p}: ${describeExchange(r.x)}`), `endpoint ${this.endpointId.slice(0, 12)} with ${this.address}; reply ${r.x.reply.text.trim()}`);
  }

  private async join(): Promise<boolean> {
    const name = 'lifecycle.join';
    if (!this.canRun(name)) return false;
    const ids = { NetworkID: this.networkId, EndpointID: this.endpointId };
    const r = await this.call('/NetworkDriver.Join', { ...ids, SandboxKey: this.sandboxKey, Options: {} });
    if (!r.ok) return (this.log.fail(name, r.why), false);
    this.ledger.hold('join', `join of endpoint ${this.endpointId.slice(0, 12)}`, () => this.client.call('/NetworkDriver.Leave', ids));
    this.log.verdict(name, shape.joinProblems(r.body).map((p) => `${p}: ${describeExchange(r.x)}`), `reply ${r.x.reply.text.trim()}`);
    return true;
  }

  private async expectShape(name: string, path: string, args: unknown, problemsOf: (body: unknown) => string[]): Promise<void> {
    if (!this.canRun(name)) return;
    const r = await this.call(path, args);
    if (!r.ok) return this.log.fail(name, r.why);
    this.log.verdict(name, problemsOf(r.body).map((p) => `${p}: ${describeExchange(r.x)}`), `reply ${r.x.reply.text.trim()}`);
  }

  /** A call that gives something back (or repeats that); on success the ledger forgets `key`. */
  private async release(name: string, path: string, args: unknown, key?: string, missing?: string): Promise<boolean> {
    if (!this.canRun(name, missing)) return false;
    const r = await this.call(path, args);
    if (!r.ok) {
      this.log.fail(name, key ? r.why : `a repeat must succeed (engines retry): ${r.why}`);
      return false;
    }
    if (key) this.ledger.drop(key);
    this.log.pass(name, key ? 'succeeded' : 'the repeat succeeded');
    return true;
  }

  /** Join of an endpoint that was never created: a clear error, and the plugin stays up. */
  private async joinUnknownEndpoint(): Promise<void> {
    const name = 'out-of-order.join-unknown-endpoint';
    if (!this.canRun(name)) return;
    const ids = { NetworkID: this.networkId, EndpointID: randomDockerId() };
    const r = await this.call('/NetworkDriver.Join', { ...ids, SandboxKey: this.sandboxKey, Options: {} });
    const problems: string[] = [];
    if (r.ok) {
      problems.push(`accepted as success: ${describeExchange(r.x)}`);
      await this.client.call('/NetworkDriver.Leave', ids);
      await this.client.call('/NetworkDriver.DeleteEndpoint', ids);
    } else if (r.x.reply.status === 0) {
      problems.push(`no clear error: ${r.why}`);
    }
    const dead = await stillAnswers(this.client);
    if (dead) problems.push(dead);
    this.log.verdict(name, problems, r.ok ? '' : `refused: ${r.why}`);
  }

  /** RequestAddress on the pool just released: a clear error, and the plugin stays up. */
  private async requestAddressOnReleasedPool(poolReleased: boolean): Promise<void> {
    const name = 'out-of-order.request-address-released-pool';
    if (!this.canRun(name, poolReleased ? undefined : 'ReleasePool failed')) return;
    const r = await this.call('/IpamDriver.RequestAddress', { PoolID: this.poolId, Address: '', Options: {} });
    const problems: string[] = [];
    if (r.ok) {
      problems.push(`accepted as success: ${describeExchange(r.x)}${misplacedErrorNote(r.x.path, r.body)}`);
      const address = goField(r.body, 'Address');
      if (typeof address === 'string') await this.client.call('/IpamDriver.ReleaseAddress', { PoolID: this.poolId, Address: address.split('/')[0] });
    } else if (r.x.reply.status === 0) {
      problems.push(`no clear error: ${r.why}`);
    }
    const dead = await stillAnswers(this.client);
    if (dead) problems.push(dead);
    this.log.verdict(name, problems, r.ok ? '' : `refused: ${r.why}`);
  }
}
