import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
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
    for (const script of ['scripts/lab', 'scripts/test', 'scripts/install-deps', 'scripts/provision-vm', '.ci/run']) {
      execFileSync('bash', ['-n', resolve(repo, script)]);
    }
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
});
