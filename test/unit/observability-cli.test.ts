import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';


describe('doctor and topology commands', () => {
  it('are listed in the usage', async () => {
    const { stdout } = await runCli('--help');
    expect(stdout).toMatch(/^ {2}doctor +check this host/m);
    expect(stdout).toMatch(/^ {2}topology +draw nodes, networks and endpoints/m);
  });

  it('explain themselves with --help', async () => {
    const doctor = await runCli('doctor', '--help');
    expect(doctor.code).toBe(0);
    for (const check of ['kernel VXLAN', 'underlay MTU', 'routes to peers', 'VXLAN port', 'etcd members', 'clock skew', 'node record', 'plugin socket', '--json']) {
      expect(doctor.stdout).toContain(check);
    }
    const topology = await runCli('topology', '-h');
    expect(topology.code).toBe(0);
    expect(topology.stdout).toMatch(/--format text\|dot\|svg/);
  });

  it('refuse an unknown format or a stray argument with exit status 2', async () => {
    const bad = await runCli('topology', '--format', 'png');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('ts-overlay topology: --format: "png" is not one of text, dot, svg\n');
    const stray = await runCli('doctor', 'now');
    expect(stray.code).toBe(2);
    expect(stray.stderr).toBe('ts-overlay doctor: unexpected argument "now"\n');
  });

  it('fail with a readable line when etcd cannot be reached', async () => {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    const { code, stderr } = await runCli('topology', '--etcd', 'http://127.0.0.1:1');
    expect(code).toBe(1);
    expect(stderr).toMatch(/^ts-overlay topology: etcd read failed \(http:\/\/127\.0\.0\.1:1\)/);
  });
});
