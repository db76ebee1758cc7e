import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SERVE_FLAGS, envName } from '../../src/config/config.js';

const repo = resolve(import.meta.dirname, '../..');

describe('packaging', () => {
  it('has a Vagrantfile that Ruby parses, with the source documents\' two nodes', () => {
    expect(execFileSync('ruby', ['-c', resolve(repo, 'Vagrantfile')], { encoding: 'utf8' })).toMatch(/Syntax OK/);
    const text = readFileSync(resolve(repo, 'Vagrantfile'), 'utf8');
    expect(text).toContain('"docker-node1" => "192.168.205.10"');
    expect(text).toContain('"docker-node2" => "192.168.205.11"');
  });

  it('has shell scripts that bash parses', () => {
    for (const script of ['scripts/lab', 'scripts/test', 'scripts/install-deps', 'scripts/install-service', 'scripts/plugin-build', 'scripts/provision-vm', 'bench/run', '.ci/run']) {
      execFileSync('bash', ['-n', resolve(repo, script)]);
    }
  });

  it('starts the plugin with the same node flags everywhere: service, managed plugin, lab, benchmark', () => {
    const flags = ['--max-semi-space-size=4', '--heap-growing-percent=30'];
    const flag = flags.join(' ');
    expect(readFileSync(resolve(repo, 'scripts/ts-overlay.service'), 'utf8')).toContain(`ExecStart=/usr/bin/node ${flag} @REPO@/dist/main.js serve`);
    expect(JSON.parse(readFileSync(resolve(repo, 'plugin/config.json'), 'utf8')).entrypoint).toEqual(['/usr/bin/node', ...flags, '/opt/ts-overlay/dist/main.js', 'serve']);
    expect(readFileSync(resolve(repo, 'scripts/lab'), 'utf8')).toContain(`node ${flag} "$REPO/dist/main.js" serve`);
    expect(readFileSync(resolve(repo, 'bench/api-lab.ts'), 'utf8')).toContain(`?? '${flag}'`);
  });

  it('lets every serve flag be set in the managed plugin', () => {
    const config = JSON.parse(readFileSync(resolve(repo, 'plugin/config.json'), 'utf8'));
    expect(config.interface.types).toEqual(['docker.networkdriver/1.0', 'docker.ipamdriver/1.0']);
    const env = new Set(config.env.map((e: { name: string }) => e.name));
    for (const flag of Object.keys(SERVE_FLAGS)) {
      if (flag === 'docker-host') continue; // the engine socket is mounted at its default path
      expect(env, flag).toContain(envName(flag));
    }
  });

  it('has a systemd unit that systemd-analyze accepts', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tso-unit-'));
    const unit = join(dir, 'ts-overlay.service');
    writeFileSync(unit, readFileSync(resolve(repo, 'scripts/ts-overlay.service'), 'utf8').replaceAll('@REPO@', repo));
    try {
      execFileSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes the service settings file from serve flags, and refuses unknown flags and quotes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tso-env-'));
    const envFile = join(dir, 'ts-overlay.env');
    const install = (...args: string[]) => execFileSync('bash', [resolve(repo, 'scripts/install-service'), '--no-systemd', '--no-deps', '--env-file', envFile, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      install('etcd=http://192.0.2.10:2379,http://192.0.2.11:2379', 'advertise-addr=192.0.2.10', 'node-name=docker-node1');
      expect(readFileSync(envFile, 'utf8')).toBe('TS_OVERLAY_ETCD="http://192.0.2.10:2379,http://192.0.2.11:2379"\nTS_OVERLAY_ADVERTISE_ADDR="192.0.2.10"\nTS_OVERLAY_NODE_NAME="docker-node1"\n');
      expect(statSync(envFile).mode & 0o777).toBe(0o600);
      expect(() => install('etcdd=x')).toThrow(/unknown flag 'etcdd'/);
      expect(() => install('node-name=a"b')).toThrow(/quotes/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('points the engine\'s dns at the responder in daemon.json, keeping other settings and servers, once', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tso-daemon-'));
    const daemonJson = join(dir, 'daemon.json');
    const install = (...args: string[]) => execFileSync('bash', [resolve(repo, 'scripts/install-service'), '--no-systemd', '--no-deps', '--env-file', join(dir, 'env'), '--daemon-json', daemonJson, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      writeFileSync(daemonJson, '{"log-level": "warn", "dns": ["192.0.2.1"]}');
      expect(install('etcd=http://192.0.2.10:2379')).toMatch(/restart/);
      expect(JSON.parse(readFileSync(daemonJson, 'utf8'))).toEqual({ 'log-level': 'warn', dns: ['169.254.53.53', '192.0.2.1'] });
      expect(install('etcd=http://192.0.2.10:2379')).toBe(''); // nothing to change
      install('dns-addr=169.254.0.9');
      expect(JSON.parse(readFileSync(daemonJson, 'utf8')).dns).toEqual(['169.254.0.9', '169.254.53.53', '192.0.2.1']);
      rmSync(daemonJson);
      install('dns=false');
      expect(existsSync(daemonJson)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000); // each install runs the CLI (serve --help): seconds on a loaded machine
});
