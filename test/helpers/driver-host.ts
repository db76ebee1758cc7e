import { Dataplane } from '../../src/dataplane/dataplane.js';
import { hostPortName, vxlanName } from '../../src/dataplane/names.js';
import { Runner } from '../../src/dataplane/runner.js';
import { LocalState } from '../../src/driver/local-state.js';
import { ADDRESS_SPACE, NetworkDriver } from '../../src/driver/network-driver.js';
import { silentLogger } from '../../src/lib/logger.js';
import type { Netns } from './netns.js';
import { sh } from './netns.js';
import { freshStore, ipamFor } from './store.js';

/**
 * One host's driver ("h1") on a key prefix of its own in the test etcd at `etcd`, its devices
 * in `host` (real etcd, real devices): the parts the plugin wires together, without the plugin.
 * The caller closes `kv`.
 */
export function driverHostIn(host: Netns, etcd: string, { vtep, defaultPool, vni }: { vtep: string; defaultPool: string; vni?: number }) {
  const { kv, store } = freshStore(etcd);
  const run = new Runner(host.name);
  const dataplane = new Dataplane(run, { vtep, port: 4789 });
  const local = new LocalState(1450);
  const ipam = ipamFor(store, 'h1', defaultPool);
  const driver = new NetworkDriver(
    { node: 'h1', vtep, vniRange: { min: 5000, max: 5999 }, underlayMtu: 1500, liveNodes: () => [] },
    store, ipam, dataplane, local, () => undefined, silentLogger,
  );
  /** A network as the engine makes one: a pool from our IPAM, then CreateNetwork on it (with `vni` when given). */
  const createNetwork = async (engineId: string): Promise<{ poolId: string; subnet: string }> => {
    const pool = await ipam.requestPool({});
    const gateway = pool.subnet.replace(/0\/24$/, '1/24');
    const genericOptions = vni === undefined ? {} : { vni: String(vni) };
    await driver.createNetwork({ networkId: engineId, genericOptions, ipv4: [{ addressSpace: ADDRESS_SPACE, pool: pool.subnet, gateway, auxAddresses: {} }], ipv6Count: 0 });
    return pool;
  };
  /** The network's VXLAN device and host port, of those that exist in `host` (needs `vni`). */
  const devices = () => {
    const names = (JSON.parse(sh('ip', ['-n', host.name, '-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname);
    return names.filter((n) => vni !== undefined && (n === vxlanName(vni) || n === hostPortName(vni)));
  };
  return { kv, store, run, dataplane, local, ipam, driver, createNetwork, devices };
}
