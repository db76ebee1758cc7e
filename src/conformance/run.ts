import { PluginClient } from './client.js';
import { checkErrorContract } from './error-contract.js';
import { checkActivate, checkIpamCapabilities, checkNetworkCapabilities, type IpamFacts } from './handshake.js';
import { parsePrefixed } from './ipv4.js';
import { runLifecycle } from './lifecycle.js';
import { CheckLog, type CheckResult } from './results.js';

export type { CheckResult } from './results.js';

export interface ConformanceOptions {
  /** The plugin's Unix socket, as the engine would find it in /run/docker/plugins. */
  readonly socket: string;
  /** Test one API group only, even when the plugin implements both. */
  readonly only?: 'network' | 'ipam';
  /** The subnet a network-only run uses in place of Docker's own IPAM. */
  readonly pool?: string;
  /** Longest wait for one reply. */
  readonly timeoutMs?: number;
  /** Called with each result as soon as it is known (the CLI prints them as they come). */
  readonly onResult?: (r: CheckResult) => void;
}

export const DEFAULT_POOL = '10.250.0.0/24';
/** What Docker's built-in IPAM calls its local address space. */
const DOCKER_LOCAL_SPACE = 'LocalDefault';

/**
 * Checks a running plugin against the remote API contract as dockerd uses it: registration,
 * error replies, one full network and container lifecycle with repeats and out-of-order calls,
 * and that nothing is left held afterwards. Resolves with every check's result; rejects only
 * for bad options.
 */
export async function runConformance(options: ConformanceOptions): Promise<CheckResult[]> {
  const poolText = options.pool ?? DEFAULT_POOL;
  const pool = parsePrefixed(poolText);
  if (!pool || pool.prefix > 30) throw new Error(`pool "${poolText}" is not an IPv4 CIDR with room for a gateway and an endpoint (such as ${DEFAULT_POOL})`);

  const client = new PluginClient(options.socket, options.timeoutMs);
  const log = new CheckLog(options.onResult);
  try {
    const implemented = await checkActivate(client, log);
    if (!implemented) return log.results;
    for (const group of ['network', 'ipam'] as const) {
      if (options.only === group && !implemented[group]) {
        log.fail('activate.selected-group', `only the ${group} group was asked for, but Plugin.Activate does not list ${group === 'network' ? 'NetworkDriver' : 'IpamDriver'}`);
        return log.results;
      }
    }
    const roles = { network: implemented.network && options.only !== 'ipam', ipam: implemented.ipam && options.only !== 'network' };

    if (roles.network) await checkNetworkCapabilities(client, log);
    let ipam: IpamFacts = { requiresMacAddress: false };
    if (roles.ipam) ipam = await checkIpamCapabilities(client, log);
    const addressSpace = roles.ipam ? (ipam.localAddressSpace ?? DOCKER_LOCAL_SPACE) : DOCKER_LOCAL_SPACE;

    if (roles.network) await checkErrorContract(client, log, 'network', addressSpace);
    if (roles.ipam) await checkErrorContract(client, log, 'ipam', addressSpace);
    await runLifecycle(client, log, { roles, addressSpace, pool: poolText, requiresMacAddress: ipam.requiresMacAddress });
  } catch (err) {
    // A bug in the kit itself: reported as a failed check rather than lost.
    log.fail('kit.internal-error', err instanceof Error ? (err.stack ?? err.message) : String(err));
  } finally {
    client.close();
  }
  return log.results;
}
