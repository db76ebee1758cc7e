/**
 * How the control-plane benchmarks make endpoints through the plugin API, as an engine would:
 * each endpoint's three calls, all at once with a bound on calls in flight, or on a schedule.
 * bench/control-plane.ts and bench/stack-floor.ts drive their servers with these.
 */
import { type PluginApi, pool, randomId } from './plugin-api.js';
import { percentile } from './stats.js';

/**
 * A Docker engine's lock on one network: the engine holds it from RequestAddress through
 * CreateEndpoint (libnetwork's Network.CreateEndpoint takes networkLocker for the network's ID
 * around the address assignment and the driver's CreateEndpoint; Join is outside it). So on one
 * network an engine has at most one of those two calls in flight, however many containers
 * start at once: 30 `docker run -d` at once on a lab engine reached the plugin one
 * RequestAddress and one CreateEndpoint at a time. Holders go in arrival order.
 */
export class EngineNetworkLock {
  private tail: Promise<unknown> = Promise.resolve();

  hold<T>(task: () => Promise<T>): Promise<T> {
    const turn = this.tail.then(task);
    this.tail = turn.catch(() => undefined);
    return turn;
  }
}

/** An endpoint made on a network, kept for its removal: its host (0-based), ID and address. */
export type MadeEndpoint = { h: number; endpointId: string; address: string };

/**
 * A network on both hosts; `engineLocks` (one per host) when calls come as an engine sends
 * them; `made`, when given, collects its endpoints for removeEndpoints.
 */
export type BenchNetwork = { poolId: string; engineIds: string[]; engineLocks?: EngineNetworkLock[]; made?: MadeEndpoint[] };

/**
 * The engine's three calls for endpoint number `i` (hosts take turns); `allocated` when it has its
 * address. Returns how long the endpoint took from its start to Join answered: with an engine's
 * lock, that includes the wait for it, which no call's latency shows.
 */
export async function makeEndpoint(apis: PluginApi[], net: BenchNetwork, i: number, allocated: () => void = () => undefined): Promise<number> {
  const began = performance.now();
  const h = i % apis.length;
  const api = apis[h]!;
  const endpointId = randomId();
  const create = async () => {
    const { Address } = await api.call<{ Address: string }>('IpamDriver.RequestAddress', { PoolID: net.poolId, Address: '', Options: {} });
    allocated();
    await api.call('NetworkDriver.CreateEndpoint', { NetworkID: net.engineIds[h], EndpointID: endpointId, Interface: { Address, AddressIPv6: '', MacAddress: '' }, Options: {} });
    net.made?.push({ h, endpointId, address: Address.split('/')[0]! });
  };
  const lock = net.engineLocks?.[h];
  await (lock ? lock.hold(create) : create());
  await api.call('NetworkDriver.Join', { NetworkID: net.engineIds[h], EndpointID: endpointId, SandboxKey: '', Options: {} });
  return performance.now() - began;
}

/**
 * `count` endpoints, `inFlightPerHost` at a time on each host: how long they took, allocations a
 * second (to the last address), when the last ended, and each endpoint's time (makeEndpoint).
 */
export async function createEndpoints(apis: PluginApi[], net: BenchNetwork, count: number, inFlightPerHost: number) {
  const items = Array.from({ length: count }, (_, i) => i);
  const allocations: number[] = [];
  const endpointMs: number[] = [];
  const started = performance.now();
  await pool(items, inFlightPerHost * apis.length, async (i) => void endpointMs.push(await makeEndpoint(apis, net, i, () => allocations.push(performance.now()))));
  const finished = performance.now();
  return { seconds: (finished - started) / 1000, allocationsPerSecond: count / ((Math.max(...allocations) - started) / 1000), finished, endpointMs };
}

/**
 * Endpoints started on a schedule (open loop: one
 * every 1/RATE s, alternating hosts) rather than as fast as answers come back. The latency of a
 * call is then what a caller sees at that load, not the length of a queue the load generator
 * keeps full (at saturation, Little's law makes it calls in flight / calls per second). `lateMs`:
 * how far behind its schedule an endpoint's first call went out (this process's own delay).
 */
export async function createEndpointsAtRate(apis: PluginApi[], net: BenchNetwork, count: number, perSecond: number) {
  const started = performance.now();
  const late: number[] = [];
  await Promise.all(Array.from({ length: count }, async (_, i) => {
    const due = started + (i * 1000) / perSecond;
    await new Promise((r) => setTimeout(r, Math.max(0, due - performance.now())));
    late.push(performance.now() - due);
    await makeEndpoint(apis, net, i);
  }));
  return { seconds: (performance.now() - started) / 1000, lateMsP99: percentile(late, 99) };
}
