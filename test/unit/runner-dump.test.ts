/**
 * Runner's rule for listings of a whole namespace: when the kernel interrupts a dump (entries
 * changed while it was read), iproute2 warns on stderr, prints what it got and exits 0. That
 * cannot be forced on real devices at will, so a stand-in `bridge` on PATH plays iproute2 here.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Runner } from '../../src/dataplane/runner.js';

const dir = mkdtempSync(join(tmpdir(), 'tso-fake-iproute2-'));
const path = process.env.PATH;

beforeAll(() => {
  // Prints one FDB entry; warns as iproute2 does when TSO_FAKE_INTERRUPTED is set. Exits 0 either way.
  writeFileSync(
    join(dir, 'bridge'),
    '#!/bin/sh\necho \'[{"mac":"02:42:0a:00:00:02","ifname":"vx-5000","dst":"198.18.0.2","flags":[],"state":"permanent"}]\'\n' +
      '[ -n "$TSO_FAKE_INTERRUPTED" ] && echo "Dump was interrupted and may be inconsistent." >&2\nexit 0\n',
  );
  chmodSync(join(dir, 'bridge'), 0o755);
  process.env.PATH = `${dir}:${path}`;
});

afterAll(() => {
  process.env.PATH = path;
  delete process.env.TSO_FAKE_INTERRUPTED;
  rmSync(dir, { recursive: true, force: true });
});

describe('Runner.wholeDumpJson', () => {
  it('gives the listing of a dump that was not interrupted', async () => {
    delete process.env.TSO_FAKE_INTERRUPTED;
    expect(await new Runner().wholeDumpJson('bridge', ['fdb', 'show'])).toEqual([{ mac: '02:42:0a:00:00:02', ifname: 'vx-5000', dst: '198.18.0.2', flags: [], state: 'permanent' }]);
  });

  it('refuses a dump the kernel interrupted, although the tool succeeded; the ordinary reader takes it', async () => {
    process.env.TSO_FAKE_INTERRUPTED = '1';
    await expect(new Runner().wholeDumpJson('bridge', ['fdb', 'show'])).rejects.toThrow(/bridge -j fdb show failed: Dump was interrupted/);
    // The ordinary reader (one device's listing, the fallback) does not look for the warning.
    expect(await new Runner().bridgeJson(['fdb', 'show', 'dev', 'vx-5000'])).toHaveLength(1);
  });
});
