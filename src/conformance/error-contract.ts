import { describeExchange, type Exchange, type PluginClient, RawBody } from './client.js';
import { goField, judge, misplacedErrorNote } from './docker-rules.js';
import { stillAnswers } from './handshake.js';
import { randomDockerId } from './ipv4.js';
import type { CheckLog } from './results.js';

/**
 * Requests dockerd would never send. Each must be refused in a way the engine recognises as
 * failure (non-200, or 200 with the group's error field) rather than half-done, ignored, or
 * answered with a crash, and the plugin must keep serving afterwards.
 */
type ProbeKind = 'malformed-json' | 'empty-body' | 'wrong-types' | 'unknown-method';

interface Probe {
  readonly path: string;
  readonly args: Record<string, unknown> | RawBody;
}

type ProbeSet = Record<ProbeKind, Probe[]>;

const EMPTY = new RawBody('');

function networkProbes(): ProbeSet {
  const net = randomDockerId();
  const ep = randomDockerId();
  const ipv4 = [{ AddressSpace: 'LocalDefault', Pool: '10.251.0.0/24', Gateway: '10.251.0.1/24' }];
  return {
    'malformed-json': [
      { path: '/NetworkDriver.CreateNetwork', args: new RawBody(`{"NetworkID":"${net}","Options":{`) },
      { path: '/NetworkDriver.Join', args: new RawBody('this is not JSON\n') },
    ],
    'empty-body': ['CreateNetwork', 'CreateEndpoint', 'Join'].flatMap((call) => [
      { path: `/NetworkDriver.${call}`, args: EMPTY },
      { path: `/NetworkDriver.${call}`, args: {} },
    ]),
    'wrong-types': [
      { path: '/NetworkDriver.CreateNetwork', args: { NetworkID: 12345, Options: {}, IPv4Data: ipv4, IPv6Data: [] } },
      { path: '/NetworkDriver.CreateNetwork', args: { NetworkID: net, Options: {}, IPv4Data: '10.251.0.0/24', IPv6Data: [] } },
      { path: '/NetworkDriver.CreateEndpoint', args: { NetworkID: net, EndpointID: ep, Interface: '10.251.0.2/24', Options: {} } },
      { path: '/NetworkDriver.Join', args: { NetworkID: net, EndpointID: ep, SandboxKey: 42, Options: {} } },
    ],
    'unknown-method': [{ path: '/NetworkDriver.NoSuchCall', args: {} }],
  };
}

function ipamProbes(addressSpace: string): ProbeSet {
  const pool = { AddressSpace: addressSpace, Pool: '', SubPool: '', Options: {}, V6: false };
  return {
    'malformed-json': [
      { path: '/IpamDriver.RequestPool', args: new RawBody(`{"AddressSpace":"${addressSpace}","Pool":`) },
      { path: '/IpamDriver.RequestAddress', args: new RawBody('this is not JSON\n') },
    ],
    'empty-body': ['RequestPool', 'RequestAddress'].flatMap((call) => [
      { path: `/IpamDriver.${call}`, args: EMPTY },
      { path: `/IpamDriver.${call}`, args: {} },
    ]),
    'wrong-types': [
      { path: '/IpamDriver.RequestPool', args: { ...pool, AddressSpace: 7 } },
      { path: '/IpamDriver.RequestPool', args: { ...pool, V6: 'false' } },
      { path: '/IpamDriver.RequestPool', args: { ...pool, Options: ['a'] } },
      { path: '/IpamDriver.RequestAddress', args: { PoolID: 42, Address: '', Options: {} } },
      { path: '/IpamDriver.ReleasePool', args: { PoolID: 42 } },
    ],
    'unknown-method': [{ path: '/IpamDriver.NoSuchCall', args: {} }],
  };
}

/** Runs the error-contract checks of one API group: `network.errors.*` or `ipam.errors.*`. */
export async function checkErrorContract(
  client: PluginClient,
  log: CheckLog,
  group: 'network' | 'ipam',
  addressSpace: string,
): Promise<void> {
  const probes = group === 'network' ? networkProbes() : ipamProbes(addressSpace);
  const ipamFailures: Exchange[] = [];
  for (const [kind, list] of Object.entries(probes) as [ProbeKind, Probe[]][]) {
    const problems: string[] = [];
    for (const probe of list) {
      const x = await client.call(probe.path, probe.args);
      const verdict = judge(x.path, x.reply);
      if (verdict.success) {
        const undone = await undoAccidentalSuccess(client, probe, verdict.body);
        problems.push(`accepted as success: ${describeExchange(x)}${misplacedErrorNote(x.path, verdict.body)}${undone}`);
      } else if (!verdict.answered) {
        problems.push(`no clear error (the engine would retry for 30 s): ${describeExchange(x)}`);
      } else if (group === 'ipam') {
        ipamFailures.push(x);
      }
    }
    log.verdict(`${group}.errors.${kind}`, problems, `${list.length} request(s) refused as the engine expects`);
  }

  if (group === 'ipam' && ipamFailures.length > 0) {
    const withErr = ipamFailures.filter((x) => typeof goField(x.reply.json, 'Err') === 'string' && goField(x.reply.json, 'Err') !== '');
    log.info(
      'ipam.errors.err-field',
      `${withErr.length} of ${ipamFailures.length} IPAM error replies also carry "Err" (the engine reads only "Error" from a 200 IPAM reply, and "Err" from a non-200 one)`,
    );
  }

  const dead = await stillAnswers(client);
  log.verdict(`${group}.errors.still-answers`, dead ? [dead] : [], 'Plugin.Activate still succeeds after the bad requests');
}

/**
 * A probe that a lenient plugin carried out may have created something: give it back at once,
 * so that the kit leaves nothing even when the plugin is wrong. Returns a note for the detail.
 */
async function undoAccidentalSuccess(client: PluginClient, probe: Probe, reply: Record<string, unknown>): Promise<string> {
  if (probe.args instanceof RawBody) return '';
  const sent = probe.args;
  const inverse: Record<string, () => Probe | undefined> = {
    '/NetworkDriver.CreateNetwork': () => ({ path: '/NetworkDriver.DeleteNetwork', args: { NetworkID: sent['NetworkID'] } }),
    '/NetworkDriver.CreateEndpoint': () => ({ path: '/NetworkDriver.DeleteEndpoint', args: { NetworkID: sent['NetworkID'], EndpointID: sent['EndpointID'] } }),
    '/NetworkDriver.Join': () => ({ path: '/NetworkDriver.Leave', args: { NetworkID: sent['NetworkID'], EndpointID: sent['EndpointID'] } }),
    '/IpamDriver.RequestPool': () => {
      const poolId = goField(reply, 'PoolID');
      return typeof poolId === 'string' ? { path: '/IpamDriver.ReleasePool', args: { PoolID: poolId } } : undefined;
    },
    '/IpamDriver.RequestAddress': () => {
      const address = goField(reply, 'Address');
      return typeof address === 'string' ? { path: '/IpamDriver.ReleaseAddress', args: { PoolID: sent['PoolID'], Address: address.split('/')[0] } } : undefined;
    },
  };
  const undo = inverse[probe.path]?.();
  if (!undo) return '';
  const x = await client.call(undo.path, undo.args);
  return judge(x.path, x.reply).success ? ` (undone by ${undo.path.slice(1)})` : ` (and undoing it failed: ${describeExchange(x)})`;
}
