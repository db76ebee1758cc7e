import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * A tiny in-memory plugin for proving that the kit can fail. It is right about everything
 * except three things a real plugin could get wrong:
 *  - IPAM errors are answered only under "Err" (the engine reads "Error": it sees success);
 *  - Join names no SrcName (the engine has no interface to move into the container);
 *  - DeleteNetwork of a network it no longer knows is an error (a retrying engine is stuck).
 * With `refuseCreateEndpoint`, CreateEndpoint always fails: the cycle stops midway and the
 * kit must give back what it holds by itself.
 */
export interface BrokenPluginState {
  readonly pools: Set<string>;
  readonly addresses: Set<string>;
  readonly networks: Set<string>;
  readonly endpoints: Set<string>;
}

export interface BrokenPlugin {
  readonly state: BrokenPluginState;
  close(): Promise<void>;
}

class Refusal extends Error {}

const POOL = '10.77.0.0/24';
const POOL_ID = 'broken-pool';
const ID = /^[0-9a-f]{64}$/;

type Body = Record<string, unknown>;

function need(body: Body, field: string, kind: 'string' | 'id' | 'boolean' | 'object' | 'array', optional = false): void {
  const v = body[field];
  if (v === undefined && optional) return;
  const ok =
    kind === 'id' ? typeof v === 'string' && ID.test(v)
    : kind === 'object' ? (v === null && optional) || (typeof v === 'object' && v !== null && !Array.isArray(v))
    : kind === 'array' ? Array.isArray(v)
    : typeof v === kind && v !== '';
  if (!ok) throw new Refusal(`${field} must be ${kind === 'id' ? 'a 64-hex ID' : `a ${kind}`}`);
}

export async function startBrokenPlugin(socket: string, opts: { refuseCreateEndpoint?: boolean } = {}): Promise<BrokenPlugin> {
  const state: BrokenPluginState = { pools: new Set(), addresses: new Set(), networks: new Set(), endpoints: new Set() };

  const routes: Record<string, (b: Body) => Body> = {
    '/Plugin.Activate': () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),
    '/NetworkDriver.GetCapabilities': () => ({ Scope: 'local' }),
    '/IpamDriver.GetCapabilities': () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),
    '/IpamDriver.GetDefaultAddressSpaces': () => ({ LocalDefaultAddressSpace: 'broken-local', GlobalDefaultAddressSpace: 'broken-global' }),
    '/IpamDriver.RequestPool': (b) => {
      need(b, 'AddressSpace', 'string');
      need(b, 'V6', 'boolean', true);
      need(b, 'Options', 'object', true);
      if (state.pools.has(POOL_ID)) throw new Refusal('the only pool is taken');
      state.pools.add(POOL_ID);
      return { PoolID: POOL_ID, Pool: POOL, Data: {} };
    },
    '/IpamDriver.RequestAddress': (b) => {
      need(b, 'PoolID', 'string');
      need(b, 'Options', 'object', true);
      if (!state.pools.has(b['PoolID'] as string)) throw new Refusal(`no pool ${String(b['PoolID'])}`);
      const gateway = (b['Options'] as Body | undefined)?.['RequestAddressType'] === 'com.docker.network.gateway';
      let host = gateway ? 1 : 2;
      while (!gateway && state.addresses.has(`10.77.0.${host}`)) host++;
      state.addresses.add(`10.77.0.${host}`);
      return { Address: `10.77.0.${host}/24`, Data: {} };
    },
    '/IpamDriver.ReleaseAddress': (b) => (need(b, 'PoolID', 'string'), need(b, 'Address', 'string'), state.addresses.delete(b['Address'] as string), {}),
    '/IpamDriver.ReleasePool': (b) => {
      need(b, 'PoolID', 'string');
      if (state.pools.delete(b['PoolID'] as string)) state.addresses.clear();
      return {};
    },
    '/NetworkDriver.CreateNetwork': (b) => (need(b, 'NetworkID', 'id'), need(b, 'IPv4Data', 'array'), state.networks.add(b['NetworkID'] as string), {}),
    '/NetworkDriver.DeleteNetwork': (b) => {
      need(b, 'NetworkID', 'id');
      if (!state.networks.delete(b['NetworkID'] as string)) throw new Refusal('no such network'); // bug: not idempotent
      return {};
    },
    '/NetworkDriver.CreateEndpoint': (b) => {
      need(b, 'NetworkID', 'id');
      need(b, 'EndpointID', 'id');
      need(b, 'Interface', 'object', true);
      if (opts.refuseCreateEndpoint) throw new Refusal('endpoints are refused today');
      if (!state.networks.has(b['NetworkID'] as string)) throw new Refusal('no such network');
      state.endpoints.add(b['EndpointID'] as string);
      return { Interface: {} };
    },
    '/NetworkDriver.EndpointOperInfo': () => ({ Value: {} }),
    '/NetworkDriver.Join': (b) => {
      need(b, 'NetworkID', 'id');
      need(b, 'EndpointID', 'id');
      need(b, 'SandboxKey', 'string');
      if (!state.endpoints.has(b['EndpointID'] as string)) throw new Refusal('no such endpoint');
      return { InterfaceName: { DstPrefix: 'eth' } }; // bug: no SrcName
    },
    '/NetworkDriver.Leave': () => ({}),
    '/NetworkDriver.DeleteEndpoint': (b) => (need(b, 'EndpointID', 'id'), state.endpoints.delete(b['EndpointID'] as string), {}),
  };

  const answer = (res: ServerResponse, status: number, body: Body) => {
    res.writeHead(status, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      const route = routes[req.url ?? ''];
      if (!route) return answer(res, 404, { Err: `unknown call ${req.url}` });
      try {
        const parsed: unknown = text.trim() === '' ? {} : JSON.parse(text);
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Refusal('the body must be a JSON object');
        answer(res, 200, route(parsed as Body));
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        if (req.url?.startsWith('/IpamDriver.')) return answer(res, 200, { Err: message }); // bug: no "Error"
        answer(res, err instanceof Refusal ? 200 : 400, { Err: message });
      }
    });
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socket, resolve));
  return {
    state,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()).closeAllConnections()),
  };
}
