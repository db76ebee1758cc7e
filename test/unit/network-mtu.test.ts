import { describe, expect, it } from 'vitest';
import { chooseNetworkMtu, tooLargeForUnderlay } from '../../src/driver/network-mtu.js';

const self = { name: 'h1', underlayMtu: 9000 };

describe('a new network\'s MTU', () => {
  it('follows this host\'s underlay minus the 50 bytes of VXLAN when it is alone', () => {
    expect(chooseNetworkMtu(undefined, self, [])).toEqual({ mtu: 8950, reason: 'underlay MTU 9000 of this host - 50' });
    expect(chooseNetworkMtu(undefined, { name: 'h1', underlayMtu: 1500 }, []).mtu).toBe(1450);
  });

  it('fits the smallest underlay among the live nodes', () => {
    const nodes = [{ name: 'h1', underlayMtu: 9000 }, { name: 'h2', underlayMtu: 1500 }, { name: 'h3', underlayMtu: 9216 }];
    expect(chooseNetworkMtu(undefined, self, nodes)).toEqual({ mtu: 1450, reason: 'underlay MTU 1500 of node h2 - 50' });
  });

  it('ignores nodes that do not report their underlay (older versions)', () => {
    expect(chooseNetworkMtu(undefined, self, [{ name: 'old' }, { name: 'h2', underlayMtu: 9000 }]).mtu).toBe(8950);
  });

  it('never grows beyond this host\'s own underlay', () => {
    expect(chooseNetworkMtu(undefined, { name: 'h1', underlayMtu: 1500 }, [{ name: 'h2', underlayMtu: 9000 }]).mtu).toBe(1450);
  });

  it('takes -o mtu as given, even when it does not fit (doctor reports that)', () => {
    expect(chooseNetworkMtu(1400, self, [{ name: 'h2', underlayMtu: 1500 }])).toEqual({ mtu: 1400, reason: '-o mtu' });
    expect(chooseNetworkMtu(8950, { name: 'h1', underlayMtu: 1500 }, [])).toEqual({ mtu: 8950, reason: '-o mtu' });
  });

  it('tells when a network\'s frames do not fit an underlay', () => {
    expect(tooLargeForUnderlay(1450, 1500)).toBe(false);
    expect(tooLargeForUnderlay(1451, 1500)).toBe(true);
    expect(tooLargeForUnderlay(8950, 1500)).toBe(true);
  });
});
