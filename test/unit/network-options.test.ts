import { describe, expect, it } from 'vitest';
import { parseNetworkOptions, userOptions } from '../../src/driver/network-options.js';

describe('parseNetworkOptions', () => {
  it('reads vni and mtu, and Docker\'s generic mtu name', () => {
    expect(parseNetworkOptions({ vni: '5000', mtu: '1400' })).toEqual({ vni: 5000, mtu: 1400 });
    expect(parseNetworkOptions({ 'com.docker.network.driver.mtu': '9000' })).toEqual({ mtu: 9000 });
  });
  it('refuses unknown options, naming the ones it knows', () => {
    expect(() => parseNetworkOptions({ vnii: '5' })).toThrow(/unknown option "vnii".*vni, mtu/);
  });
  it('refuses out-of-range or non-numeric values', () => {
    expect(() => parseNetworkOptions({ vni: '0' })).toThrow(/vni/);
    expect(() => parseNetworkOptions({ vni: '16777216' })).toThrow(/vni/);
    expect(() => parseNetworkOptions({ mtu: 'big' })).toThrow(/mtu/);
  });
  it('keeps the user options and drops the copy marker', () => {
    expect(userOptions({ vni: '5000', 'ts-overlay.id': 'abcdef012345' })).toEqual({ vni: '5000' });
  });
});
