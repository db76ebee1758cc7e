import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { SERVE_FLAGS } from '../../src/config/config.js';

/** The built CLI as a user runs it (scripts/test builds before testing). */
const cli = resolve(import.meta.dirname, '../../dist/main.js');
async function run(...args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)('node', [cli, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('ts-overlay CLI', () => {
  it('documents every serve flag with its environment variable', async () => {
    const { code, stdout } = await run('serve', '--help');
    expect(code).toBe(0);
    for (const flag of Object.keys(SERVE_FLAGS)) {
      expect(stdout).toContain(`--${flag}`);
      expect(stdout).toContain(`TS_OVERLAY_${flag.toUpperCase().replace(/-/g, '_')}`);
    }
  });

  it('refuses a bad flag with a readable message and exit status 2', async () => {
    const { code, stderr } = await run('serve', '--vni-range', '9-1');
    expect(code).toBe(2);
    expect(stderr).toMatch(/^ts-overlay serve: --vni-range: "1" must be an integer from 9 to 16777215/);
  });

  it('names an unknown command', async () => {
    const { code, stderr } = await run('frobnicate');
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('prints its version', async () => {
    expect((await run('--version')).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
