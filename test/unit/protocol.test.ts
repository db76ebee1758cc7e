import { describe, expect, it } from 'vitest';
import type { NetworkDriver } from '../../src/driver/network-driver.js';
import type { IpamService } from '../../src/ipam/ipam-service.js';
import { badRequest, unavailable } from '../../src/lib/errors.js';
import { silentLogger } from '../../src/lib/logger.js';
import { apiRoutes } from '../../src/protocol/routes.js';
import { buildServer } from '../../src/protocol/server.js';

/**
 * The HTTP contract with the engine, through inject(): what reaches the driver and IPAM is
 * recorded; what Docker gets back is checked. Driver behaviour itself is tested for real in
 * the store, netns and e2e suites.
 */
function appWith(overrides: Partial<Record<string, (...args: any[]) => unknown>> = {}) {
  const calls: Array<[string, unknown[]]> = [];
  const record = (name: string) => (...args: unknown[]) => {
    calls.push([name, args]);
    return overrides[name] ? overrides[name]!(...args) : Promise.resolve({});
  };
  const driver = new Proxy({}, { get: (_t, name: string) => record(name) }) as unknown as NetworkDriver;
  const ipam = new Proxy({}, { get: (_t, name: string) => record(name) }) as unknown as IpamService;
  const app = buildServer(apiRoutes({ driver, ipam, clusterNetwork: async (id) => ({ id, subnet: '10.0.0.0/24', createdAt: new Date().toISOString() }) }), silentLogger);
  const post = (url: string, payload?: string) =>
    app.inject({ method: 'POST', url, headers: { accept: 'application/vnd.docker.plugins.v1.2+json' }, ...(payload !== undefined ? { payload } : {}) });
  return { app, calls, post };
}

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);

describe('plugin protocol', () => {
  it('activates as both a network and an IPAM driver', async () => {
    const res = await appWith().post('/Plugin.Activate');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ Implements: ['NetworkDriver', 'IpamDriver'] });
  });

  it('reports local scope with global connectivity', async () => {
    expect((await appWith().post('/NetworkDriver.GetCapabilities', '')).json()).toEqual({ Scope: 'local', ConnectivityScope: 'global' });
  });

  it('parses a JSON body sent without any Content-Type, as dockerd does', async () => {
    const { post, calls } = appWith();
    const res = await post('/NetworkDriver.CreateNetwork', JSON.stringify({
      NetworkID: NET,
      Options: { 'com.docker.network.enable_ipv6': false, 'com.docker.network.generic': { vni: '5000' } },
      IPv4Data: [{ AddressSpace: 'ts-overlay', Pool: '10.0.0.0/24', Gateway: '10.0.0.1/24' }],
      IPv6Data: [],
    }));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({});
    expect(calls[0]![0]).toBe('createNetwork');
    expect(calls[0]![1][0]).toMatchObject({ networkId: NET, genericOptions: { vni: '5000' }, ipv6Count: 0 });
  });

  it.each([
    ['/NetworkDriver.CreateNetwork', '{not json', /not valid JSON/],
    ['/NetworkDriver.CreateNetwork', '{}', /NetworkID/],
    ['/NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: '../../etc' }), /NetworkID/],
    ['/NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: NET, IPv4Data: 'x' }), /IPv4Data/],
    ['/NetworkDriver.CreateEndpoint', JSON.stringify({ NetworkID: NET, EndpointID: EP, Interface: { MacAddress: 'zz' } }), /MacAddress/],
    ['/NetworkDriver.CreateEndpoint', JSON.stringify({ NetworkID: NET, EndpointID: EP, Interface: { Address: '10.0.0.2' } }), /Address/],
    ['/NetworkDriver.Join', JSON.stringify({ NetworkID: NET, EndpointID: EP }), /SandboxKey/],
    ['/IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 7 }), /AddressSpace/],
    ['/IpamDriver.ReleaseAddress', JSON.stringify({ PoolID: '10.0.0.0/24' }), /Address/],
  ])('answers a malformed %s with {"Err"} naming the problem', async (url, payload, message) => {
    const { post, calls } = appWith();
    const res = await post(url, payload);
    expect(res.statusCode).toBe(400);
    expect(res.json().Err).toMatch(message);
    expect(calls).toEqual([]); // nothing reached the driver
  });

  it('answers an unknown call with 404 and an Err', async () => {
    const res = await appWith().post('/NetworkDriver.Explode', '{}');
    expect(res.statusCode).toBe(404);
    expect(res.json().Err).toMatch(/unknown API call/);
  });

  it('refuses huge bodies', async () => {
    const res = await appWith().post('/NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: NET, pad: 'x'.repeat(300 * 1024) }));
    expect(res.statusCode).toBe(413);
    expect(res.json().Err).toBeTruthy();
  });

  it('turns a driver error into 200 {"Err"}, which the engine shows as "remote: ..."', async () => {
    const { post } = appWith({ createNetwork: () => Promise.reject(badRequest('unknown option "x"')) });
    const res = await post('/NetworkDriver.CreateNetwork', JSON.stringify({ NetworkID: NET, IPv4Data: [{ AddressSpace: 'ts-overlay', Pool: '10.0.0.0/24' }] }));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ Err: 'unknown option "x"' });
  });

  it('names etcd when etcd is the reason', async () => {
    const { post } = appWith({ requestPool: () => Promise.reject(unavailable('etcd read failed (http://x:2379): deadline')) });
    const res = await post('/IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'ts-overlay', Pool: '', SubPool: '', Options: {}, V6: false }));
    expect(res.json().Err).toMatch(/^etcd/);
  });

  it('puts IPAM errors under "Error" too, the field the engine reads from IPAM replies', async () => {
    const { post } = appWith({ requestPool: () => Promise.reject(badRequest('subnet overlaps')) });
    const res = await post('/IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'ts-overlay', Pool: '10.0.0.0/16' }));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ Err: 'subnet overlaps', Error: 'subnet overlaps' });
    const bad = await post('/IpamDriver.ReleasePool', '{}');
    expect(bad.json().Error).toMatch(/PoolID/);
    const driver = await post('/NetworkDriver.DeleteNetwork', '{}');
    expect(driver.json().Error).toBeUndefined();
  });

  it('refuses IPv6 pools and foreign address spaces before touching IPAM', async () => {
    const { post, calls } = appWith();
    expect((await post('/IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'ts-overlay', V6: true }))).json().Err).toMatch(/IPv6/);
    expect((await post('/IpamDriver.RequestPool', JSON.stringify({ AddressSpace: 'LocalDefault' }))).json().Err).toMatch(/address space/);
    expect(calls).toEqual([]);
  });

  it('marks the gateway request as such', async () => {
    const { post, calls } = appWith({ requestAddress: () => Promise.resolve('10.0.0.1/24') });
    const res = await post('/IpamDriver.RequestAddress', JSON.stringify({ PoolID: '10.0.0.0/24', Address: '', Options: { RequestAddressType: 'com.docker.network.gateway' } }));
    expect(res.json()).toEqual({ Address: '10.0.0.1/24', Data: {} });
    expect(calls[0]![1][0]).toEqual({ poolId: '10.0.0.0/24', kind: 'gateway' });
  });

  it('returns the MAC the driver chose, and only then', async () => {
    const chosen = appWith({ createEndpoint: () => Promise.resolve({ macAddress: '02:42:0a:00:00:02' }) });
    const body = JSON.stringify({ NetworkID: NET, EndpointID: EP, Interface: { Address: '10.0.0.2/24', AddressIPv6: '', MacAddress: '' }, Options: {} });
    expect((await chosen.post('/NetworkDriver.CreateEndpoint', body)).json()).toEqual({ Interface: { MacAddress: '02:42:0a:00:00:02' } });
    const given = appWith({ createEndpoint: () => Promise.resolve({}) });
    expect((await given.post('/NetworkDriver.CreateEndpoint', body)).json()).toEqual({ Interface: {} });
  });

  it('names the interface the engine must move, with prefix eth and no gateway', async () => {
    const { post } = appWith({ join: () => Promise.resolve({ srcName: 'tsc-bbbbbbbbbbb' }) });
    const res = await post('/NetworkDriver.Join', JSON.stringify({ NetworkID: NET, EndpointID: EP, SandboxKey: '/var/run/docker/netns/1', Options: {} }));
    expect(res.json()).toEqual({ InterfaceName: { SrcName: 'tsc-bbbbbbbbbbb', DstPrefix: 'eth' }, DisableGatewayService: false });
  });

  it('answers Activate at once but holds calls that touch state until the plugin is ready', async () => {
    let open = () => {};
    const ready = new Promise<void>((resolve) => (open = resolve));
    const calls: string[] = [];
    const driver = new Proxy({}, { get: (_t, name: string) => async () => void calls.push(name) }) as unknown as NetworkDriver;
    const ipam = new Proxy({}, { get: () => async () => ({}) }) as unknown as IpamService;
    const app = buildServer(apiRoutes({ driver, ipam, clusterNetwork: async () => undefined }), silentLogger, undefined, ready);
    const activate = await app.inject({ method: 'POST', url: '/Plugin.Activate' });
    expect(activate.json()).toEqual({ Implements: ['NetworkDriver', 'IpamDriver'] });
    const pending = app.inject({ method: 'POST', url: '/NetworkDriver.DeleteNetwork', payload: JSON.stringify({ NetworkID: NET }) });
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toEqual([]); // still waiting
    open();
    expect((await pending).json()).toEqual({});
    expect(calls).toEqual(['deleteNetwork']);
  });
});
