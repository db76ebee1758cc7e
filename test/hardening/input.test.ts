import { existsSync, rmSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostInPool, parsePrefixed } from '../../src/conformance/ipv4.js';
import { apiRoutes } from '../../src/protocol/routes.js';
import { BODY_LIMIT } from '../../src/protocol/server.js';
import { PluginClient } from '../../src/conformance/client.js';
import { ADDRESS_SPACE, describe as show, errorProblem, HostilePlugin, type Outcome, RawBody, randomDockerId } from '../helpers/hostile-plugin.js';
import { HOSTILE_IDS, INVALID_CIDRS, INVALID_IPS, INVALID_MACS, ODD_MACS, SANDBOX, SPECS, type Spec, UNALLOCATED_POOL, type World } from './endpoints.js';

/**
 * Issue 6, part 1 ("Input"): every API call of a real plugin (dist/main.js, real etcd, real
 * kernel, in a throwaway namespace) gets requests dockerd would never send. Every reply must
 * be an error by Docker's rules (non-200, or 200 with "Err"; IPAM errors also with "Error")
 * or an idempotent success; the plugin must stay up and answer Plugin.Activate after each
 * request; and each group of cases must leave etcd (under /ts-overlay/, but nodes/ and
 * pools-guard) and the namespace's links exactly as it found them.
 */
const PATHS = apiRoutes({ driver: {} as never, ipam: {} as never, clusterNetwork: async () => undefined }).map((r) => r.path);
const STATEFUL = PATHS.filter((p) => SPECS[p]?.kind !== 'static');
const GATEWAY = { RequestAddressType: 'com.docker.network.gateway' };
const PWNED = '/tmp/tso-pwned';
/** fast-check's seed: fixed, so that a failure replays; FC_SEED=... tries other inputs. */
const SEED = Number(process.env['FC_SEED'] ?? 20261126);

let h: HostilePlugin;
const canonical = new Map<string, string>();
const started = Date.now();
/** Successes (not of constant calls) of hostile requests that were harmless, for the log. */
const acceptedOdd: string[] = [];

beforeAll(async () => {
  rmSync(PWNED, { force: true });
  h = await HostilePlugin.start();
  for (const path of PATHS.filter((p) => SPECS[p]?.kind === 'static')) {
    const o = await h.send(path);
    if (!o.success) throw new Error(`a constant call failed: ${show(o)}`);
    canonical.set(path, o.reply.text);
  }
}, 60_000);

afterAll(async () => {
  if (h) {
    const total = [...h.counts.values()].reduce((a, b) => a + b, 0);
    const lines = [...h.counts.entries()].map(([c, n]) => `  ${c.padEnd(24)} ${n}`);
    console.log(
      `hostile inputs tried, by category:\n${lines.join('\n')}\n  ${'TOTAL'.padEnd(24)} ${total}\n` +
        `requests sent in all (with setup, repeats, undos and liveness checks): ${h.requests}; ${((Date.now() - started) / 1000).toFixed(1)} s\n` +
        `hostile requests to calls with arguments accepted as harmless successes: ${acceptedOdd.length}${acceptedOdd.length ? `, e.g.\n  ${acceptedOdd.slice(0, 8).join('\n  ')}` : ''}`,
    );
    await h.stop();
  }
  rmSync(PWNED, { force: true });
}, 60_000);

// ---- the oracle ---------------------------------------------------------------------------

type Expect = 'error' | 'either';

function asObject(sent: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(sent);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * The problems with one reply: an error must be a proper one; a success (where allowed) must
 * be repeatable with the same answer, and whatever it made is given back at once (`undo`).
 */
async function verdict(o: Outcome, body: unknown, expectation: Expect, undo = true): Promise<string[]> {
  if (!o.success) {
    const p = errorProblem(o);
    return p ? [p] : [];
  }
  const spec: Spec = SPECS[o.path]!;
  const problems: string[] = [];
  if (expectation === 'error') problems.push(`accepted as success: ${show(o)}`);
  else if (spec.kind !== 'static') acceptedOdd.push(show(o, 160));
  if (spec.kind === 'static') {
    if (o.reply.text !== canonical.get(o.path)) problems.push(`a constant reply changed with the input: ${show(o)}`);
    return problems;
  }
  const sent = asObject(o.sent);
  if (spec.kind === 'allocate') {
    const got = o.path === '/IpamDriver.RequestPool' ? o.body['Pool'] : o.body['Address'];
    if (typeof got !== 'string' || !parsePrefixed(got)) problems.push(`a success without a well-formed allocation: ${show(o)}`);
    if (o.path === '/IpamDriver.RequestPool' && (typeof o.body['PoolID'] !== 'string' || o.body['PoolID'] === '')) problems.push(`RequestPool succeeded without a PoolID: ${show(o)}`);
  } else {
    const again = await h.send(o.path, body);
    if (!again.success || again.reply.text !== o.reply.text) problems.push(`not idempotent: ${show(o)}; the same request again -> ${again.reply.status} ${again.reply.text.slice(0, 300)}`);
  }
  if (undo && spec.undo) {
    const u = spec.undo(sent, o.body);
    if (u) {
      const x = await h.send(u.path, u.body);
      if (!x.success) problems.push(`could not undo ${show(o)}: ${show(x)}`);
    }
  }
  return problems;
}

/** One hostile request: judged, then the plugin must still run and answer. */
async function probe(category: string, problems: string[], path: string, body: unknown, expectation: Expect, undo = true): Promise<Outcome> {
  const o = await h.hostile(category, path, body);
  problems.push(...(await verdict(o, body, expectation, undo)));
  const dead = await h.deadOrDeaf();
  if (dead) {
    problems.push(`after ${show(o)}: ${dead}`);
    throw new Error(problems.join('\n'));
  }
  return o;
}

function diff(before: readonly string[], after: readonly string[]): string {
  const gone = before.filter((l) => !after.includes(l)).map((l) => `- ${l}`);
  const added = after.filter((l) => !before.includes(l)).map((l) => `+ ${l}`);
  return [...gone, ...added].join('\n');
}

/**
 * A group of cases: state before; the world (when asked for) set up; cases, with the state
 * compared to the world's after each `checkpoint`; the world torn down by the test; state
 * compared to the start.
 */
async function group(
  withWorld: boolean,
  cases: (w: World, problems: string[], checkpoint: (label: string) => void) => Promise<void>,
  { worldChanges = false } = {},
): Promise<void> {
  const problems: string[] = [];
  const before = h.state();
  const world = withWorld ? await setUpWorld() : undefined;
  const during = h.state();
  const checkpoint = (label: string) => {
    const now = h.state();
    const d = diff(during, now);
    if (d) problems.push(`state changed by ${label}:\n${d}`);
  };
  try {
    await cases(world?.w ?? (undefined as unknown as World), problems, checkpoint);
    if (!worldChanges) checkpoint('the group');
  } finally {
    if (world) problems.push(...(await world.tearDown()));
  }
  const after = h.state();
  expect(problems, `plugin output:\n${h.tail()}`).toEqual([]);
  expect(diff(before, after), 'state left behind by the group').toBe('');
  expect(existsSync(PWNED), `${PWNED} exists: an input reached a shell`).toBe(false);
}

/** A pool with its gateway, a network, an endpoint, a spare address; a second pool for CreateNetwork. */
async function setUpWorld(): Promise<{ w: World; tearDown: () => Promise<string[]> }> {
  const pool = await h.must('/IpamDriver.RequestPool', { AddressSpace: ADDRESS_SPACE, Pool: '', SubPool: '', Options: {}, V6: false });
  const poolId = pool['PoolID'] as string;
  const gw = (await h.must('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: GATEWAY }))['Address'] as string;
  const networkId = randomDockerId();
  await h.must('/NetworkDriver.CreateNetwork', {
    NetworkID: networkId,
    Options: { 'com.docker.network.generic': {} },
    IPv4Data: [{ AddressSpace: ADDRESS_SPACE, Pool: pool['Pool'], Gateway: gw }],
    IPv6Data: [],
  });
  const address = (await h.must('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} }))['Address'] as string;
  // Not allocated: the plugin's reconciler releases endpoint addresses no endpoint uses.
  const spareAddress = hostInPool(parsePrefixed(pool['Pool'] as string)!, 201);
  const endpointId = randomDockerId();
  await h.must('/NetworkDriver.CreateEndpoint', { NetworkID: networkId, EndpointID: endpointId, Interface: { Address: address, AddressIPv6: '', MacAddress: '' }, Options: {} });
  const pool2 = await h.must('/IpamDriver.RequestPool', { AddressSpace: ADDRESS_SPACE, Pool: '', SubPool: '', Options: {}, V6: false });
  const pool2Id = pool2['PoolID'] as string;
  const gateway2 = (await h.must('/IpamDriver.RequestAddress', { PoolID: pool2Id, Address: '', Options: GATEWAY }))['Address'] as string;
  const freeIp = hostInPool(parsePrefixed(pool['Pool'] as string)!, 200).split('/')[0]!;
  const w: World = { poolId, networkId, endpointId, spareAddress, freeIp, pool2Id, pool2: pool2['Pool'] as string, gateway2 };
  const ip = (a: string) => a.split('/')[0];
  return {
    w,
    tearDown: () =>
      tearDown([
        ['/NetworkDriver.Leave', { NetworkID: networkId, EndpointID: endpointId }],
        ['/NetworkDriver.DeleteEndpoint', { NetworkID: networkId, EndpointID: endpointId }],
        ['/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip(address) }],
        ['/NetworkDriver.DeleteNetwork', { NetworkID: networkId }],
        ['/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip(gw) }],
        ['/IpamDriver.ReleasePool', { PoolID: poolId }],
        ['/IpamDriver.ReleaseAddress', { PoolID: pool2Id, Address: ip(gateway2) }],
        ['/IpamDriver.ReleasePool', { PoolID: pool2Id }],
      ]),
  };
}

/** Gives back everything, in order, whatever fails; returns the failures. */
async function tearDown(calls: readonly (readonly [string, unknown])[]): Promise<string[]> {
  const failures: string[] = [];
  for (const [path, body] of calls) {
    const o = await h.send(path, body);
    if (!o.success) failures.push(`teardown: ${show(o)}`);
  }
  return failures;
}

/** Like tearDown, but failures are expected (the case may have removed things already). */
async function tidy(calls: readonly (readonly [string, unknown])[]): Promise<void> {
  for (const [path, body] of calls) await h.send(path, body);
}

// ---- helpers to build cases ----------------------------------------------------------------

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type KeyPath = readonly (string | number)[];

/** Every node of a request: [] is the root. */
function nodePaths(v: unknown, at: KeyPath = []): KeyPath[] {
  const out: KeyPath[] = [at];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...nodePaths(x, [...at, i])));
  else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push(...nodePaths(x, [...at, k]));
  return out;
}

function getAt(v: unknown, path: KeyPath): unknown {
  return path.reduce<unknown>((o, k) => (o as Record<string | number, unknown> | undefined)?.[k], v);
}

function setAt(root: Record<string, unknown>, path: KeyPath, value: unknown): Record<string, unknown> {
  const copy = structuredClone(root);
  const parent = getAt(copy, path.slice(0, -1)) as Record<string | number, unknown>;
  parent[path[path.length - 1]!] = value;
  return copy;
}

function deleteAt(root: Record<string, unknown>, path: KeyPath): Record<string, unknown> {
  const copy = structuredClone(root);
  const parent = getAt(copy, path.slice(0, -1)) as Record<string | number, unknown>;
  if (Array.isArray(parent)) parent.splice(Number(path[path.length - 1]), 1);
  else delete parent[path[path.length - 1]!];
  return copy;
}

/** Adds a key as an own property, whatever its name (also "__proto__"). */
function addAt(root: Record<string, unknown>, path: KeyPath, key: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(root);
  const target = getAt(copy, path);
  if (target === null || typeof target !== 'object' || Array.isArray(target)) return copy;
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const label = (path: KeyPath) => path.join('.');
/** Fields the wire API lets be null (Go encodes nil maps and slices so). */
const NULLABLE = new Set(['Options', 'IPv4Data', 'IPv6Data', 'Interface', 'AuxAddresses']);
/** Where any JSON value is fine: free-form options and discovery data. */
const FREE_FORM = (path: KeyPath) => path.some((k) => k === 'DiscoveryData') || (path.includes('Options') && path.length > 1);

function base(path: string, w: World): Record<string, unknown> {
  return SPECS[path]!.base!(w);
}

/** A CreateNetwork request with one -o option, whatever its name (also "__proto__"). */
function withGeneric(net: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const generic = {};
  Object.defineProperty(generic, key, { value, enumerable: true, writable: true, configurable: true });
  return { ...net, Options: { 'com.docker.network.generic': generic } };
}

// ---- the cases -----------------------------------------------------------------------------

describe('hostile input to a real ts-overlay plugin', () => {
  it('covers every API call that src/protocol/routes.ts serves', () => {
    expect(PATHS.length).toBeGreaterThanOrEqual(21);
    expect(PATHS.filter((p) => SPECS[p] === undefined), 'calls without a spec in test/hardening/endpoints.ts').toEqual([]);
  });

  it('malformed JSON: refused by every call (constant calls may answer as usual)', async () => {
    const bodies = ['{', '{"NetworkID":', 'not json', '{"a":1}}', '[1,2', "{'a':1}", '{"a":1,}', 'nul', 'tru', '{"a":1} {"b":2}', '{"a":01}', 'NaN', '{"a":Infinity}', '\u0000', '"unterminated', '{"a" 1}', '}{', '{"a":"\\x"}', '{"a":undefined}'];
    await group(false, async (_w, problems, checkpoint) => {
      for (const path of PATHS) {
        for (const b of bodies) await probe('malformed-json', problems, path, new RawBody(b), SPECS[path]!.kind === 'static' ? 'either' : 'error');
        checkpoint(`malformed JSON to ${path}`);
      }
    });
  });

  it('empty and null bodies: refused by every call that needs arguments', async () => {
    const bodies = [new RawBody(''), new RawBody('\n'), new RawBody('   \t'), new RawBody('null'), new RawBody('\uFEFF{}'), {}];
    await group(false, async (_w, problems, checkpoint) => {
      for (const path of PATHS) {
        for (const b of bodies) await probe('empty-body', problems, path, b, SPECS[path]!.kind === 'static' ? 'either' : 'error');
        checkpoint(`empty bodies to ${path}`);
      }
    });
  });

  it('missing fields: refused when the call cannot do without them', async () => {
    await group(true, async (w, problems, checkpoint) => {
      for (const path of STATEFUL) {
        const spec = SPECS[path]!;
        const b = base(path, w);
        for (const at of nodePaths(b).filter((p) => p.length > 0 && !FREE_FORM(p))) {
          const required =
            (at.length === 1 && spec.required.includes(String(at[0]))) ||
            (path === '/NetworkDriver.CreateEndpoint' && label(at) === 'Interface.Address') ||
            (path === '/NetworkDriver.CreateNetwork' && ['IPv4Data.0', 'IPv4Data.0.AddressSpace', 'IPv4Data.0.Pool'].includes(label(at)));
          await probe('missing-fields', problems, path, deleteAt(base(path, w), at), required ? 'error' : 'either');
        }
        // Only one field left, and none at all but a stray one.
        for (const key of Object.keys(b)) {
          const only = { [key]: b[key] };
          await probe('missing-fields', problems, path, only, spec.required.some((r) => r !== key) ? 'error' : 'either');
        }
        await probe('missing-fields', problems, path, { Stray: 1 }, 'error');
        checkpoint(`missing fields of ${path}`);
      }
    });
  });

  it('extra fields, prototype keys and case variants: harmless', async () => {
    await group(true, async (w, problems, checkpoint) => {
      for (const path of PATHS) {
        const b = () => (SPECS[path]!.base ? base(path, w) : {});
        const containers = nodePaths(b()).filter((p) => {
          const v = getAt(b(), p);
          return v !== null && typeof v === 'object' && !Array.isArray(v);
        });
        for (const at of containers) {
          for (const [key, value] of [
            ['Extra', 'x'],
            ['__proto__', { polluted: 'yes', NetworkID: '../x' }],
            ['constructor', { prototype: { polluted: 'yes' } }],
            ['Err', 'an error the client made up'],
            ['Error', 'an error the client made up'],
            ['', ''],
          ] as const) {
            await probe('extra-fields', problems, path, addAt(b(), at, key, value), 'either');
          }
        }
        // Go matches keys case-insensitively; this plugin does not have to, but must not mix them up.
        for (const key of Object.keys(b())) {
          await probe('extra-fields', problems, path, { ...b(), [key.toLowerCase()]: '../x', [key.toUpperCase()]: '-o' }, 'either');
          const renamed = b();
          const v = renamed[key];
          delete renamed[key];
          renamed[key.toLowerCase()] = v;
          await probe('extra-fields', problems, path, renamed, SPECS[path]!.required.includes(key) ? 'error' : 'either');
        }
        checkpoint(`extra fields to ${path}`);
      }
      // Nothing a request could have polluted shows afterwards: ordinary calls still work as before.
      const o = await probe('extra-fields', problems, '/IpamDriver.RequestAddress', base('/IpamDriver.RequestAddress', w), 'either');
      expect(o.success, show(o)).toBe(true);
    });
  });

  it('unknown -o options are refused by CreateNetwork', async () => {
    await group(true, async (w, problems, checkpoint) => {
      for (const key of ['nosuchoption', 'vni ', 'VNI', 'Mtu', 'com.docker.network.driver.MTU', '-o', 'vni=5', '']) {
        await probe('hostile-options', problems, '/NetworkDriver.CreateNetwork', withGeneric(base('/NetworkDriver.CreateNetwork', w), key, '1400'), 'error');
      }
      checkpoint('unknown options');
    });
  });

  it('wrong types: numbers, arrays, null and objects where strings (and others) are expected', async () => {
    const wrong: Json[] = [42, -1, 1.5, 1e308, true, false, null, [], ['x'], [1, [2]], {}, { a: 'b' }, { a: { b: { c: 1 } } }, ''];
    await group(true, async (w, problems, checkpoint) => {
      for (const path of PATHS) {
        for (const top of [42, 'a string', true, [], ...(SPECS[path]!.base ? [[base(path, w)]] : [])] as Json[]) {
          await probe('wrong-types', problems, path, new RawBody(JSON.stringify(top)), SPECS[path]!.kind === 'static' ? 'either' : 'error');
        }
        if (!SPECS[path]!.base) continue;
        for (const at of nodePaths(base(path, w)).filter((p) => p.length > 0 && !FREE_FORM(p))) {
          const original = getAt(base(path, w), at);
          for (const value of wrong) {
            if (typeOf(value) === typeOf(original)) continue;
            const nullable = value === null && NULLABLE.has(String(at[at.length - 1]));
            await probe('wrong-types', problems, path, setAt(base(path, w), at, value), nullable ? 'either' : 'error');
          }
        }
        checkpoint(`wrong types to ${path}`);
      }
    });
  });

  it('IDs with path, option and shell characters, and very long ones, are refused', async () => {
    await group(true, async (w, problems, checkpoint) => {
      for (const path of STATEFUL) {
        const b = base(path, w);
        for (const field of ['NetworkID', 'EndpointID', 'PoolID', 'AddressSpace', 'SandboxKey'].filter((f) => f in b)) {
          // A PoolID nothing holds is released as a no-op; everything else must be refused.
          const lenient = field === 'SandboxKey' || (field === 'PoolID' && SPECS[path]!.kind === 'release');
          for (const id of HOSTILE_IDS) await probe('hostile-ids', problems, path, { ...base(path, w), [field]: id }, lenient ? 'either' : 'error');
        }
        checkpoint(`hostile IDs to ${path}`);
      }
      for (const id of HOSTILE_IDS) {
        const net = base('/NetworkDriver.CreateNetwork', w);
        for (const [key, value] of [['vni', id], ['mtu', id], [id, 'x'], ['ts-overlay.id', id]]) {
          await probe('hostile-ids', problems, '/NetworkDriver.CreateNetwork', withGeneric({ ...net }, key!, value!), 'error');
        }
        await probe('hostile-ids', problems, '/IpamDriver.RequestPool', { ...base('/IpamDriver.RequestPool', w), Options: { [id]: 'x' } }, 'error');
        // An empty cluster ID is no cluster ID (an empty --ipam-opt): an ordinary pool.
        await probe('hostile-ids', problems, '/IpamDriver.RequestPool', { ...base('/IpamDriver.RequestPool', w), Options: { 'ts-overlay.id': id } }, id === '' ? 'either' : 'error');
        await probe('hostile-ids', problems, '/IpamDriver.RequestAddress', { ...base('/IpamDriver.RequestAddress', w), Options: { RequestAddressType: id } }, 'either');
      }
      checkpoint('hostile options');
    });
  });

  it('invalid CIDRs, addresses and MACs are refused', async () => {
    await group(true, async (w, problems, checkpoint) => {
      const pool = base('/IpamDriver.RequestPool', w);
      for (const c of [...INVALID_CIDRS, '10.77.0.1/24']) {
        await probe('invalid-cidr-mac', problems, '/IpamDriver.RequestPool', { ...pool, Pool: c }, 'error');
        await probe('invalid-cidr-mac', problems, '/IpamDriver.RequestPool', { ...pool, Pool: '10.77.0.0/16', SubPool: c }, 'error');
      }
      await probe('invalid-cidr-mac', problems, '/IpamDriver.RequestPool', { ...pool, Pool: '10.77.0.0/16', SubPool: '10.78.0.0/24' }, 'error');
      await probe('invalid-cidr-mac', problems, '/IpamDriver.RequestPool', { ...pool, SubPool: '10.77.0.0/24' }, 'error');
      checkpoint('invalid pools');

      const net = (ipv4: Record<string, unknown>): Record<string, unknown> => {
        const b = base('/NetworkDriver.CreateNetwork', w);
        return { ...b, IPv4Data: [{ ...(b['IPv4Data'] as Record<string, unknown>[])[0], ...ipv4 }] };
      };
      // CreateNetwork's Pool, Gateway and AuxAddresses: their own test below.
      for (const bad of [{ AddressSpace: 'LocalDefault' }, { AddressSpace: '' }, { AddressSpace: '../x' }]) {
        await probe('invalid-cidr-mac', problems, '/NetworkDriver.CreateNetwork', net(bad), 'error');
      }
      checkpoint('invalid network address spaces');

      const poolCidr = parsePrefixed(w.spareAddress)!;
      const endpoint = (iface: Record<string, unknown>): Record<string, unknown> => ({ ...base('/NetworkDriver.CreateEndpoint', w), Interface: { Address: w.spareAddress, AddressIPv6: '', MacAddress: '', ...iface } });
      for (const c of [...INVALID_CIDRS, '10.99.0.5/24', w.spareAddress.split('/')[0]!]) {
        await probe('invalid-cidr-mac', problems, '/NetworkDriver.CreateEndpoint', endpoint({ Address: c }), 'error');
      }
      for (const m of INVALID_MACS) await probe('invalid-cidr-mac', problems, '/NetworkDriver.CreateEndpoint', endpoint({ MacAddress: m }), 'error');
      await probe('invalid-cidr-mac', problems, '/NetworkDriver.CreateEndpoint', endpoint({ AddressIPv6: 'fe80::1/64' }), 'error');
      checkpoint('invalid endpoint addresses');

      // Well-formed but no unicast MAC: refused, or accepted, and then Join must fail or work cleanly.
      for (const m of ODD_MACS) {
        const b = endpoint({ MacAddress: m });
        const o = await probe('invalid-cidr-mac', problems, '/NetworkDriver.CreateEndpoint', b, 'either', false);
        if (o.success) {
          const ids = { NetworkID: b['NetworkID'], EndpointID: b['EndpointID'] };
          const j = await probe('invalid-cidr-mac', problems, '/NetworkDriver.Join', { ...ids, SandboxKey: SANDBOX, Options: {} }, 'either', false);
          console.log(`MAC ${m}: CreateEndpoint accepted it; then ${show(j, 200)}`);
          await tidy([['/NetworkDriver.Leave', ids], ['/NetworkDriver.DeleteEndpoint', ids]]);
        }
      }
      checkpoint('odd MACs');

      const network = hostInPool(poolCidr, 0).split('/')[0]!;
      const broadcast = hostInPool(poolCidr, 2 ** (32 - poolCidr.prefix) - 1).split('/')[0]!;
      for (const a of [...INVALID_IPS, network, broadcast, '10.99.0.5', '0.0.0.0', '255.255.255.255']) {
        await probe('invalid-cidr-mac', problems, '/IpamDriver.RequestAddress', { PoolID: w.poolId, Address: a, Options: {} }, 'error');
      }
      for (const a of INVALID_IPS) await probe('invalid-cidr-mac', problems, '/IpamDriver.ReleaseAddress', { PoolID: w.poolId, Address: a }, 'error');
      for (const c of INVALID_CIDRS) await probe('invalid-cidr-mac', problems, '/IpamDriver.ReleasePool', { PoolID: c }, 'either');
      checkpoint('invalid IPAM addresses');
    });
  });

  it('unknown network, endpoint and pool IDs: refused, or a no-op success', async () => {
    await group(true, async (w, problems, checkpoint) => {
      const unknownNet = randomDockerId();
      const unknownEp = randomDockerId();
      const must: Record<string, boolean> = {
        '/NetworkDriver.CreateEndpoint': true,
        '/NetworkDriver.EndpointOperInfo': true,
        '/NetworkDriver.Join': true,
      };
      for (const path of STATEFUL) {
        const b = base(path, w);
        if ('NetworkID' in b && path !== '/NetworkDriver.CreateNetwork' && path !== '/NetworkDriver.AllocateNetwork') {
          await probe('unknown-ids', problems, path, { ...b, NetworkID: unknownNet }, must[path] ? 'error' : 'either');
        }
        if ('EndpointID' in b && path !== '/NetworkDriver.CreateEndpoint') {
          await probe('unknown-ids', problems, path, { ...base(path, w), EndpointID: unknownEp }, must[path] ? 'error' : 'either');
          await probe('unknown-ids', problems, path, { ...base(path, w), NetworkID: unknownNet, EndpointID: unknownEp }, must[path] ? 'error' : 'either');
        }
        if ('PoolID' in b) {
          for (const pool of [UNALLOCATED_POOL, '10.0.0.0/8', '0.0.0.0/0', `${w.poolId}/x`, w.poolId.replace('/', '/../'), w.poolId.replace('/', '_')]) {
            await probe('unknown-ids', problems, path, { ...base(path, w), PoolID: pool }, path === '/IpamDriver.RequestAddress' ? 'error' : 'either');
          }
        }
        checkpoint(`unknown IDs to ${path}`);
      }
      // A "copy" of a cluster network that does not exist.
      const copy = base('/NetworkDriver.CreateNetwork', w);
      await probe('unknown-ids', problems, '/NetworkDriver.CreateNetwork', { ...copy, Options: { 'com.docker.network.generic': { 'ts-overlay.id': randomDockerId() } } }, 'error');
      await probe('unknown-ids', problems, '/IpamDriver.RequestPool', { ...base('/IpamDriver.RequestPool', w), Options: { 'ts-overlay.id': randomDockerId() } }, 'error');
      checkpoint('unknown cluster networks');
    });
  });

  it('request size is limited: 413 with an Err above BODY_LIMIT; big bodies below it are served', async () => {
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    await group(true, async (w, problems, checkpoint) => {
      for (const path of PATHS) {
        const b = SPECS[path]!.base ? base(path, w) : {};
        const over: [string, boolean][] = [
          [JSON.stringify({ ...b, Pad: 'x'.repeat(BODY_LIMIT) }), false],
          ['x'.repeat(BODY_LIMIT + 1), false],
          [`${JSON.stringify(b)}${' '.repeat(BODY_LIMIT)}`, false],
          [JSON.stringify({ ...b, Pad: 'x'.repeat(BODY_LIMIT) }), true],
          [JSON.stringify({ ...b, Pad: 'x'.repeat(8 * BODY_LIMIT) }), true],
        ];
        for (const [payload, chunked] of over) {
          const o = await h.sendRaw('huge', path, payload, chunked);
          if (path === '/IpamDriver.RequestPool' && !chunked && payload.startsWith('x')) console.log(`over the limit: ${show(o, 60)}`);
          const p = errorProblem(o);
          if (p) problems.push(p);
          if (o.reply.status !== 413) problems.push(`a ${payload.length}-byte body${chunked ? ' (chunked, no Content-Length)' : ''} was not refused with 413: ${show(o, 200)}`);
          const dead = await h.deadOrDeaf();
          if (dead) throw new Error(`after a ${payload.length}-byte body to ${path}: ${dead}`);
        }
        // Just below the limit, whitespace only: served like the small request.
        const text = JSON.stringify(b);
        const padded = `${text}${' '.repeat(BODY_LIMIT - Buffer.byteLength(text) - 2)}\n`;
        const o = await probe('huge', problems, path, new RawBody(padded), SPECS[path]!.kind === 'static' ? 'either' : 'either');
        if (o.reply.status === 413) problems.push(`a ${padded.length}-byte body (below the limit of ${BODY_LIMIT}) was refused: ${show(o, 200)}`);
        // Long strings and deep nesting inside the limit.
        for (const field of Object.keys(b).filter((k) => typeof b[k] === 'string')) {
          await probe('huge', problems, path, { ...base(path, w), [field]: '7'.repeat(100_000) }, field === 'SandboxKey' ? 'either' : 'error');
        }
        await probe('huge', problems, path, new RawBody(deep(60_000)), SPECS[path]!.kind === 'static' ? 'either' : 'error');
        // Deep nesting where any value is allowed (CreateNetwork's generic options: own test below).
        if ('Options' in b && path !== '/NetworkDriver.CreateNetwork') {
          await probe('huge', problems, path, new RawBody(JSON.stringify({ ...base(path, w), Options: { x: 0 } }).replace('{"x":0}', `{"x":${deep(50_000)}}`)), 'either');
        }
        checkpoint(`big bodies to ${path}`);
      }
      const net = base('/NetworkDriver.CreateNetwork', w);
      const manyOptions = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`opt${i}`, 'x']));
      await probe('huge', problems, '/NetworkDriver.CreateNetwork', { ...net, Options: { 'com.docker.network.generic': manyOptions } }, 'error');
      await probe('huge', problems, '/NetworkDriver.CreateNetwork', { ...net, IPv4Data: Array.from({ length: 2000 }, () => (net['IPv4Data'] as unknown[])[0]) }, 'error');
      await probe('huge', problems, '/IpamDriver.RequestPool', { ...base('/IpamDriver.RequestPool', w), Options: manyOptions }, 'error');
      checkpoint('many options and entries');
    });
  });

  it('out-of-order and repeated calls: refused, or an idempotent success, and nothing leaks', async () => {
    await group(true, async (w, problems, checkpoint) => {
      const P = problems;
      const cat = 'out-of-order';
      const addr = async (poolId: string) => (await h.must('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} }))['Address'] as string;
      const ip = (a: string) => a.split('/')[0]!;

      // Join, EndpointOperInfo, Leave, DeleteEndpoint of an endpoint never created.
      const ghost = { NetworkID: w.networkId, EndpointID: randomDockerId() };
      await probe(cat, P, '/NetworkDriver.Join', { ...ghost, SandboxKey: SANDBOX, Options: {} }, 'error');
      await probe(cat, P, '/NetworkDriver.EndpointOperInfo', ghost, 'error');
      await probe(cat, P, '/NetworkDriver.Leave', ghost, 'either');
      await probe(cat, P, '/NetworkDriver.DeleteEndpoint', ghost, 'either');
      checkpoint('calls on an endpoint never created');

      // An endpoint's life out of order: Leave before Join, Join twice, DeleteEndpoint while
      // joined, then twice; afterwards Join and EndpointOperInfo of the deleted endpoint.
      {
        const a = await addr(w.poolId);
        const ids = { NetworkID: w.networkId, EndpointID: randomDockerId() };
        const create = { ...ids, Interface: { Address: a, AddressIPv6: '', MacAddress: '' }, Options: {} };
        await h.must('/NetworkDriver.CreateEndpoint', create);
        await probe(cat, P, '/NetworkDriver.CreateEndpoint', create, 'either', false);
        const other = await addr(w.poolId);
        await probe(cat, P, '/NetworkDriver.CreateEndpoint', { ...create, Interface: { Address: other, AddressIPv6: '', MacAddress: '' } }, 'error', false);
        await probe(cat, P, '/NetworkDriver.CreateEndpoint', { ...create, NetworkID: randomDockerId() }, 'error', false);
        await probe(cat, P, '/NetworkDriver.Leave', ids, 'either');
        await h.must('/NetworkDriver.Join', { ...ids, SandboxKey: SANDBOX, Options: {} });
        await probe(cat, P, '/NetworkDriver.Join', { ...ids, SandboxKey: SANDBOX, Options: {} }, 'either', false);
        await probe(cat, P, '/NetworkDriver.Join', { ...ids, SandboxKey: `${SANDBOX}-other`, Options: {} }, 'either', false);
        await probe(cat, P, '/NetworkDriver.DeleteEndpoint', ids, 'either');
        await probe(cat, P, '/NetworkDriver.DeleteEndpoint', ids, 'either');
        await probe(cat, P, '/NetworkDriver.Join', { ...ids, SandboxKey: SANDBOX, Options: {} }, 'error', false);
        await probe(cat, P, '/NetworkDriver.EndpointOperInfo', ids, 'error');
        await probe(cat, P, '/NetworkDriver.Leave', ids, 'either');
        await tidy([['/NetworkDriver.Leave', ids], ['/NetworkDriver.DeleteEndpoint', ids]]);
        P.push(...(await tearDown([['/IpamDriver.ReleaseAddress', { PoolID: w.poolId, Address: ip(a) }], ['/IpamDriver.ReleaseAddress', { PoolID: w.poolId, Address: ip(other) }]])));
        checkpoint('an endpoint life out of order');
      }

      // Addresses: taken ones asked for again, released twice, the gateway asked for again.
      {
        const a = await addr(w.poolId);
        await probe(cat, P, '/IpamDriver.RequestAddress', { PoolID: w.poolId, Address: ip(a), Options: {} }, 'error');
        // The gateway is shared by every host's copy of a network: asking again gets it again.
        await probe(cat, P, '/IpamDriver.RequestAddress', { PoolID: w.poolId, Address: '', Options: GATEWAY }, 'either');
        await h.must('/IpamDriver.ReleaseAddress', { PoolID: w.poolId, Address: ip(a) });
        await probe(cat, P, '/IpamDriver.ReleaseAddress', { PoolID: w.poolId, Address: ip(a) }, 'either');
        await probe(cat, P, '/IpamDriver.ReleaseAddress', { PoolID: w.poolId, Address: a }, 'either');
        checkpoint('addresses asked for and released twice');
      }

      // CreateEndpoint only from a live claim of this host: not from an address requested and
      // released (the claim's revision is gone with it), nor from the gateway (asked for again).
      {
        const a = await addr(w.poolId);
        await h.must('/IpamDriver.ReleaseAddress', { PoolID: w.poolId, Address: ip(a) });
        const gw = (await h.must('/IpamDriver.RequestAddress', { PoolID: w.poolId, Address: '', Options: GATEWAY }))['Address'] as string;
        for (const address of [a, gw]) {
          const ids = { NetworkID: w.networkId, EndpointID: randomDockerId() };
          await probe(cat, P, '/NetworkDriver.CreateEndpoint', { ...ids, Interface: { Address: address, AddressIPv6: '', MacAddress: '' }, Options: {} }, 'error', false);
          await tidy([['/NetworkDriver.DeleteEndpoint', ids]]);
        }
        checkpoint('CreateEndpoint from a released address or the gateway');
      }

      // A pool released (twice), then used: RequestAddress, ReleaseAddress, CreateNetwork on it.
      {
        const p = await h.must('/IpamDriver.RequestPool', { AddressSpace: ADDRESS_SPACE, Pool: '10.77.0.0/24', SubPool: '', Options: {}, V6: false });
        const poolId = p['PoolID'] as string;
        await probe(cat, P, '/IpamDriver.RequestPool', { AddressSpace: ADDRESS_SPACE, Pool: '10.77.0.0/24', SubPool: '', Options: {}, V6: false }, 'either', false);
        await probe(cat, P, '/IpamDriver.RequestPool', { AddressSpace: ADDRESS_SPACE, Pool: '10.77.0.0/16', SubPool: '', Options: {}, V6: false }, 'error', false);
        const a = await addr(poolId);
        await h.must('/IpamDriver.ReleasePool', { PoolID: poolId });
        await probe(cat, P, '/IpamDriver.ReleasePool', { PoolID: poolId }, 'either');
        await probe(cat, P, '/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: {} }, 'error');
        await probe(cat, P, '/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: GATEWAY }, 'error');
        await probe(cat, P, '/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip(a) }, 'either');
        await tidy([['/IpamDriver.ReleasePool', { PoolID: poolId }]]);
        checkpoint('a released pool used again');
      }

      // A network deleted (twice), then used: CreateEndpoint, Join, EndpointOperInfo, Leave.
      {
        const p = await h.must('/IpamDriver.RequestPool', { AddressSpace: ADDRESS_SPACE, Pool: '', SubPool: '', Options: {}, V6: false });
        const poolId = p['PoolID'] as string;
        const gw = (await h.must('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: GATEWAY }))['Address'] as string;
        const networkId = randomDockerId();
        const create = { NetworkID: networkId, Options: { 'com.docker.network.generic': {} }, IPv4Data: [{ AddressSpace: ADDRESS_SPACE, Pool: p['Pool'], Gateway: gw }], IPv6Data: [] };
        await h.must('/NetworkDriver.CreateNetwork', create);
        await probe(cat, P, '/NetworkDriver.CreateNetwork', create, 'either', false);
        await probe(cat, P, '/NetworkDriver.CreateNetwork', { ...create, IPv4Data: [{ AddressSpace: ADDRESS_SPACE, Pool: w.pool2, Gateway: w.gateway2 }] }, 'either', false);
        const a = await addr(poolId);
        const ids = { NetworkID: networkId, EndpointID: randomDockerId() };
        await h.must('/NetworkDriver.DeleteNetwork', { NetworkID: networkId });
        await probe(cat, P, '/NetworkDriver.DeleteNetwork', { NetworkID: networkId }, 'either');
        await probe(cat, P, '/NetworkDriver.CreateEndpoint', { ...ids, Interface: { Address: a, AddressIPv6: '', MacAddress: '' }, Options: {} }, 'error', false);
        await probe(cat, P, '/NetworkDriver.Join', { ...ids, SandboxKey: SANDBOX, Options: {} }, 'error', false);
        await probe(cat, P, '/NetworkDriver.EndpointOperInfo', ids, 'error');
        await probe(cat, P, '/NetworkDriver.Leave', ids, 'either');
        await tidy([['/NetworkDriver.DeleteEndpoint', ids]]);
        P.push(...(await tearDown([['/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip(a) }], ['/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip(gw) }], ['/IpamDriver.ReleasePool', { PoolID: poolId }]])));
        checkpoint('a deleted network used again');
      }

      // Things removed while still in use: a network with an endpoint, a pool with a network.
      {
        const p = await h.must('/IpamDriver.RequestPool', { AddressSpace: ADDRESS_SPACE, Pool: '', SubPool: '', Options: {}, V6: false });
        const poolId = p['PoolID'] as string;
        const gw = (await h.must('/IpamDriver.RequestAddress', { PoolID: poolId, Address: '', Options: GATEWAY }))['Address'] as string;
        const networkId = randomDockerId();
        await h.must('/NetworkDriver.CreateNetwork', { NetworkID: networkId, Options: {}, IPv4Data: [{ AddressSpace: ADDRESS_SPACE, Pool: p['Pool'], Gateway: gw }], IPv6Data: [] });
        const a = await addr(poolId);
        const ids = { NetworkID: networkId, EndpointID: randomDockerId() };
        await h.must('/NetworkDriver.CreateEndpoint', { ...ids, Interface: { Address: a, AddressIPv6: '', MacAddress: '' }, Options: {} });
        await h.must('/NetworkDriver.Join', { ...ids, SandboxKey: SANDBOX, Options: {} });
        await probe(cat, P, '/IpamDriver.ReleasePool', { PoolID: poolId }, 'either');
        await probe(cat, P, '/NetworkDriver.DeleteNetwork', { NetworkID: networkId }, 'either');
        // What an engine would send next, in its order; failures are fine, leftovers are not.
        await tidy([
          ['/NetworkDriver.Leave', ids],
          ['/NetworkDriver.DeleteEndpoint', ids],
          ['/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip(a) }],
          ['/NetworkDriver.DeleteNetwork', { NetworkID: networkId }],
          ['/IpamDriver.ReleaseAddress', { PoolID: poolId, Address: ip(gw) }],
          ['/IpamDriver.ReleasePool', { PoolID: poolId }],
        ]);
        checkpoint('a network and a pool removed while in use');
      }
    });
  });

  // ---- property-based: arbitrary JSON, and arbitrary mutations of valid requests ----------

  const fieldNames = [...new Set(Object.values(SPECS).flatMap((s) => (s.base ? nodePaths(s.base(dummyWorld())).map((p) => String(p[p.length - 1] ?? '')) : [])))].filter(Boolean);
  const anyKey = fc.oneof(fc.constantFrom(...fieldNames), fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'prototype', 'networkid', 'Err', 'Error'));
  const strings = fc.constantFrom(...HOSTILE_IDS, ...INVALID_CIDRS, ...INVALID_IPS, ...INVALID_MACS, ...ODD_MACS, '', 'ts-overlay', 'LocalDefault', '10.0.0.5/24', '10.0.0.5', randomDockerId());
  const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    strings,
    fc.string(),
    fc.fullUnicodeString({ maxLength: 20 }),
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.constant([]),
    fc.constant({}),
    fc.dictionary(anyKey, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 4 }),
  );
  const anyBody: fc.Arbitrary<unknown> = fc.oneof(
    fc.jsonValue({ maxDepth: 4 }),
    fc.dictionary(anyKey, hostileValue, { maxKeys: 6 }),
    fc.string({ maxLength: 40 }).map((s) => new RawBody(s)),
    fc.uint8Array({ maxLength: 40 }).map((b) => new RawBody(Buffer.from(b).toString('latin1'))),
  );
  type Mutation = { op: 'delete' | 'set' | 'add' | 'rename'; at: number; key: string; value: unknown };
  const mutation: fc.Arbitrary<Mutation> = fc.record({ op: fc.constantFrom('delete', 'set', 'set', 'add', 'rename'), at: fc.nat(), key: anyKey, value: hostileValue }) as fc.Arbitrary<Mutation>;

  function mutate(b: Record<string, unknown>, ms: readonly Mutation[]): Record<string, unknown> {
    let out = b;
    for (const m of ms) {
      const all = nodePaths(out);
      const nonRoot = all.filter((p) => p.length > 0);
      if (m.op === 'add' || nonRoot.length === 0) {
        const containers = all.filter((p) => {
          const v = getAt(out, p);
          return v !== null && typeof v === 'object' && !Array.isArray(v);
        });
        out = addAt(out, containers[m.at % containers.length]!, m.key, m.value);
        continue;
      }
      const at = nonRoot[m.at % nonRoot.length]!;
      if (m.op === 'delete') out = deleteAt(out, at);
      else if (m.op === 'set') out = setAt(out, at, m.value);
      else if (typeof at[at.length - 1] === 'string') {
        const v = getAt(out, at);
        out = addAt(deleteAt(out, at), at.slice(0, -1), m.key, v);
      }
    }
    return out;
  }

  it('property: arbitrary JSON to every call is refused or harmless', async () => {
    await group(true, async (w, problems, checkpoint) => {
      for (const path of PATHS) {
        const runs = SPECS[path]!.kind === 'static' ? 30 : 70;
        await fc.assert(
          fc.asyncProperty(anyBody, async (body) => {
            const p: string[] = [];
            // A body that is not a JSON object cannot be a request to a call with arguments.
            const parsed = body instanceof RawBody ? asObjectOrNot(body.text) : body;
            const notObject = parsed === undefined || typeOf(parsed) !== 'object';
            const expectation: Expect = SPECS[path]!.kind !== 'static' && notObject && !(body instanceof RawBody && body.text.trim() === '') ? 'error' : 'either';
            await probe('fuzz-arbitrary-json', p, path, body, expectation);
            if (p.length > 0) throw new Error(p.join('\n'));
          }),
          { numRuns: runs, seed: SEED, endOnFailure: true },
        ).catch((err: unknown) => problems.push(`${path}: ${String(err)}`));
        checkpoint(`arbitrary JSON to ${path}`);
      }
    });
  }, 120_000);

  it('property: arbitrary mutations of valid requests are refused or harmless', async () => {
    await group(true, async (w, problems, checkpoint) => {
      for (const path of PATHS) {
        const runs = SPECS[path]!.kind === 'static' ? 20 : 100;
        await fc.assert(
          fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (ms) => {
            const p: string[] = [];
            const b = SPECS[path]!.base ? base(path, w) : {};
            await probe('fuzz-mutations', p, path, mutate(b, ms), 'either');
            if (p.length > 0) throw new Error(p.join('\n'));
          }),
          { numRuns: runs, seed: SEED, endOnFailure: true },
        ).catch((err: unknown) => problems.push(`${path}: ${String(err)}`));
        checkpoint(`mutations of ${path}`);
      }
    });
  }, 120_000);

  // ---- inputs that found plugin bugs (all fixed): each must now be refused cleanly -------

  it('-o options named like Object.prototype members (constructor, toString, __proto__...) are refused', async () => {
    await group(true, async (w, problems, checkpoint) => {
      for (const key of ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__', '__defineGetter__', 'isPrototypeOf']) {
        await probe('hostile-options', problems, '/NetworkDriver.CreateNetwork', withGeneric(base('/NetworkDriver.CreateNetwork', w), key, '1400'), 'error');
      }
      checkpoint('options named like Object.prototype members');
    });
  });

  it('CreateNetwork refuses an invalid Pool, a Gateway outside it, and invalid or foreign AuxAddresses', async () => {
    await group(true, async (w, problems, checkpoint) => {
      const net = (ipv4: Record<string, unknown>): Record<string, unknown> => {
        const b = base('/NetworkDriver.CreateNetwork', w);
        return { ...b, IPv4Data: [{ ...(b['IPv4Data'] as Record<string, unknown>[])[0], ...ipv4 }] };
      };
      const cases = [
        ...INVALID_CIDRS.flatMap((c) => [{ Pool: c }, { Gateway: c }]),
        ...[...INVALID_IPS, '../x', '-o', '10.99.0.7'].map((a) => ({ AuxAddresses: { host: a } })),
        { Gateway: '10.99.0.1/24' },
        { Pool: '10.77.0.0/24' }, // a valid subnet our IPAM never handed out
      ];
      for (const ipv4 of cases) await probe('invalid-cidr-mac', problems, '/NetworkDriver.CreateNetwork', net(ipv4), 'error');
      checkpoint('invalid IPv4Data');
    });
  });

  it('an aux address equal to the gateway is refused and the gateway stays a gateway', async () => {
    await group(false, async (_w, problems) => {
      const p = await h.must('/IpamDriver.RequestPool', { AddressSpace: ADDRESS_SPACE, Pool: '10.78.0.0/24', SubPool: '', Options: {}, V6: false });
      const gw = (await h.must('/IpamDriver.RequestAddress', { PoolID: p['PoolID'], Address: '', Options: GATEWAY }))['Address'] as string;
      const held = h.state();
      const create = { NetworkID: randomDockerId(), Options: {}, IPv4Data: [{ AddressSpace: ADDRESS_SPACE, Pool: p['Pool'], Gateway: gw, AuxAddresses: { router: gw.split('/')[0] } }], IPv6Data: [] };
      await probe('out-of-order', problems, '/NetworkDriver.CreateNetwork', create, 'error');
      const d = diff(held, h.state());
      if (d) problems.push(`refusing the aux address changed etcd:\n${d}`);
      problems.push(...(await tearDown([['/IpamDriver.ReleaseAddress', { PoolID: p['PoolID'], Address: gw.split('/')[0] }], ['/IpamDriver.ReleasePool', { PoolID: p['PoolID'] }]])));
    });
  });

  it('a deeply nested -o value is refused by validation, not by a crash', async () => {
    await group(true, async (w, problems, checkpoint) => {
      const text = JSON.stringify(withGeneric(base('/NetworkDriver.CreateNetwork', w), 'vni', 0)).replace('"vni":0', `"vni":${'['.repeat(50_000)}${']'.repeat(50_000)}`);
      const o = await h.hostile('hostile-options', '/NetworkDriver.CreateNetwork', new RawBody(text));
      if (o.success || /internal error/.test(o.reply.text) || !/option vni must be a plain value/.test(o.reply.text)) problems.push(`deep vni: ${show(o, 200)}`);
      const dead = await h.deadOrDeaf();
      if (dead) problems.push(dead);
      checkpoint('deep vni');
    });
  });

  it('a PoolID spelled with "_" for "/" is no pool: nothing is allocated or freed through it', async () => {
    await group(true, async (w, problems, checkpoint) => {
      const alias = w.poolId.replace('/', '_');
      const before = h.state();
      await probe('unknown-ids', problems, '/IpamDriver.RequestAddress', { PoolID: alias, Address: '', Options: {} }, 'error');
      await probe('unknown-ids', problems, '/IpamDriver.ReleasePool', { PoolID: alias }, 'error');
      await probe('unknown-ids', problems, '/IpamDriver.ReleaseAddress', { PoolID: alias, Address: w.spareAddress }, 'error');
      const d = diff(before, h.state());
      if (d) problems.push(`an aliased PoolID changed etcd:\n${d}`);
      checkpoint('aliased pool IDs');
    });
  });

  it('with the call rate unbounded (--max-call-rate 0, as this suite runs), a burst on 8 connections is answered in full', async () => {
    const clients = Array.from({ length: 8 }, () => new PluginClient(h.socket, 15_000));
    const statuses = new Map<number, number>();
    const t0 = Date.now();
    try {
      await Promise.all(
        clients.map(async (c, i) => {
          for (let n = 0; n < 150; n++) {
            const [path, body] = n % 2 === 0 ? ['/Plugin.Activate', undefined] : ['/IpamDriver.RequestAddress', { PoolID: UNALLOCATED_POOL, Address: '', Options: { n: String(i) } }];
            h.counts.set('burst', (h.counts.get('burst') ?? 0) + 1);
            h.requests++;
            const x = await c.call(path, body);
            statuses.set(x.reply.status, (statuses.get(x.reply.status) ?? 0) + 1);
          }
        }),
      );
    } finally {
      for (const c of clients) c.close();
    }
    const ms = Date.now() - t0;
    console.log(`burst: 1200 requests on 8 connections in ${ms} ms (${Math.round(1200 / (ms / 1000))}/s); statuses ${JSON.stringify(Object.fromEntries(statuses))}; 429 (rate limited): ${statuses.get(429) ?? 0}`);
    // Every request got an answer: no connection dropped, nothing throttled silently.
    expect(statuses.get(0) ?? 0).toBe(0);
    expect([...statuses.keys()].sort()).toEqual([200]);
    expect(await h.deadOrDeaf()).toBeUndefined();
  });

  it('the plugin is still alive after everything', async () => {
    expect(await h.deadOrDeaf()).toBeUndefined();
    expect([...h.counts.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(2000);
  });
});

function asObjectOrNot(text: string): unknown {
  const t = text.trim();
  if (t === '') return {};
  try {
    return JSON.parse(t);
  } catch {
    return undefined;
  }
}

function dummyWorld(): World {
  const id = '0'.repeat(64);
  return { poolId: '10.0.0.0/24', networkId: id, endpointId: id, spareAddress: '10.0.0.3/24', freeIp: '10.0.0.200', pool2Id: '10.0.1.0/24', pool2: '10.0.1.0/24', gateway2: '10.0.1.1/24' };
}
