import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { SERVE_FLAGS } from '../../src/config/config.js';


describe('ts-overlay CLI', () => {
  it('documents every serve flag with its environment variable', async () => {
    const { code, stdout } = await runCli('serve', '--help');
    expect(code).toBe(0);
    for (const flag of Object.keys(SERVE_FLAGS)) {
      expect(stdout).toContain(`--${flag}`);
      expect(stdout).toContain(`TS_OVERLAY_${flag.toUpperCase().replace(/-/g, '_')}`);
    }
  });

  it('refuses a bad flag with a readable message and exit status 2', async () => {
    const { code, stderr } = await runCli('serve', '--vni-range', '9-1');
    expect(code).toBe(2);
    expect(stderr).toMatch(/^ts-overlay serve: --vni-range: "1" must be an integer from 9 to 16777215/);
  });

  it('names an unknown command', async () => {
    const { code, stderr } = await runCli('frobnicate');
    expect(code).toBe(2);
    expect(stderr).toMatch(/unknown command "frobnicate"/);
  });

  it('prints its version', async () => {
    expect((await runCli('--version')).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
