import { describe, expect, it } from 'vitest';
import { LocalState } from '../../src/driver/local-state.js';
import type { EndpointRecord } from '../../src/store/records.js';

const record = (id: string, ip: string, subnet = '10.0.0.0/24'): EndpointRecord => ({
  id: id.padStart(64, '0'), network: 'n1', node: 'h1', vtep: '192.0.2.1', mac: '02:00:00:00:00:01', ip, subnet, createdAt: new Date(0).toISOString(),
});

describe('LocalState.endpointOn', () => {
  it('finds the endpoint on an address of a subnet, and nothing on another subnet or address', () => {
    const local = new LocalState(1450);
    const a = record('a', '10.0.0.2');
    local.addEndpoint(a);
    local.addEndpoint(record('b', '10.0.1.2', '10.0.1.0/24'));
    expect(local.endpointOn('10.0.0.0/24', '10.0.0.2')).toEqual(a);
    expect(local.endpointOn('10.0.0.0/24', '10.0.1.2')).toBeUndefined();
    expect(local.endpointOn('10.0.1.0/24', '10.0.0.2')).toBeUndefined();
  });

  it('follows an endpoint given again with another address, and forgets a removed one', () => {
    const local = new LocalState(1450);
    local.addEndpoint(record('a', '10.0.0.2'));
    local.addEndpoint(record('a', '10.0.0.3'));
    expect(local.endpointOn('10.0.0.0/24', '10.0.0.2')).toBeUndefined();
    expect(local.endpointOn('10.0.0.0/24', '10.0.0.3')?.id).toBe(record('a', '').id);
    local.removeEndpoint(record('a', '').id);
    expect(local.endpointOn('10.0.0.0/24', '10.0.0.3')).toBeUndefined();
    expect(local.endpoints()).toEqual([]);
    local.removeEndpoint('never-there'); // no throw
  });

  it('keeps finding the second of two endpoints on one address when the first goes', () => {
    const local = new LocalState(1450);
    local.addEndpoint(record('a', '10.0.0.2'));
    local.addEndpoint(record('b', '10.0.0.2'));
    local.removeEndpoint(record('a', '').id);
    expect(local.endpointOn('10.0.0.0/24', '10.0.0.2')?.id).toBe(record('b', '').id);
  });
});
