import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.js';

describe('loadConfig', () => {
  it('uses the documented defaults', () => {
    const c = loadConfig([], {});
    expect(c.socket).toBe('/run/docker/plugins/ts-overlay.sock');
    expect(c.etcd).toEqual(['http://127.0.0.1:2379']);
    expect(c.poolSize).toBe(24);
    expect(c.vniRange).toEqual({ min: 4096, max: 16777215 });
    expect(c.vxlanPort).toBe(4789);
    expect(c.advertiseAddr).toBeUndefined();
    expect(c.nodeName.length).toBeGreaterThan(0);
  });

  it('takes flags over environment variables over defaults', () => {
    const c = loadConfig(['--pool-size', '26', '--node-name', 'n1'], { TS_OVERLAY_POOL_SIZE: '20', TS_OVERLAY_ETCD: 'http://a:1,http://b:2', TS_OVERLAY_NODE_NAME: 'env' });
    expect(c.poolSize).toBe(26);
    expect(c.nodeName).toBe('n1');
    expect(c.etcd).toEqual(['http://a:1', 'http://b:2']);
  });

  it.each([
    [['--advertise-addr', '1.2.3'], /advertise-addr/],
    [['--default-pool', '10.0.0.1/8'], /default-pool/],
    [['--pool-size', '4'], /pool-size.*from 8 to 30/],
    [['--vni-range', '10-5'], /vni-range/],
    [['--vxlan-port', '70000'], /vxlan-port/],
    [['--etcd', 'localhost:2379'], /etcd/],
    [['--docker-host', 'tcp://x:2375'], /docker-host/],
    [['--log-level', 'loud'], /log-level/],
    [['--bogus', 'x'], /bogus/],
  ])('refuses %j with a message naming the flag', (argv, message) => {
    expect(() => loadConfig(argv, {})).toThrow(ConfigError);
    expect(() => loadConfig(argv, {})).toThrow(message);
  });
});
