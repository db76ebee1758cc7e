import { Runner } from '../dataplane/runner.js';
import { runDoctor } from '../doctor/doctor.js';
import { formatDoctorReport } from '../doctor/report.js';
import { ConfigError } from '../config/config.js';
import { openStore, parseCommand, report } from './connect.js';

export const doctorHelp = `Usage: ts-overlay doctor [--json] [serve flags: --etcd URLS --node-name NAME --advertise-addr IP --socket PATH --vxlan-port N]

Checks, as root on a host, what the overlay needs there, and prints each check as OK or FAIL
with what is wrong and how to fix it; exits 1 if any check failed.
  kernel VXLAN     creates and deletes a throwaway VXLAN device (tsdoc-<random>, never up)
  underlay MTU     the advertise address's interface carries every network's MTU + 50
  routes to peers  ip route get to every other node's VTEP (from etcd) finds a usable route
  VXLAN port       no program holds the UDP port; the kernel's VXLAN socket is there when needed
  etcd members     every --etcd endpoint answers GET /version
  clock skew       this clock is within 1 s of etcd's (from the Date headers of its answers)
  node record      this node is registered in etcd (its lease is alive) with this VTEP
  plugin socket    the socket exists and answers Plugin.Activate
Takes the serve flags and TS_OVERLAY_* variables, so it looks where the plugin does.
  --json           the checks as JSON
`;

export function doctor(argv: string[]): Promise<number> {
  return report('doctor', async () => {
    const { config, on, positionals } = parseCommand(argv, ['--json']);
    if (positionals.length > 0) throw new ConfigError(`unexpected argument "${positionals[0]}"`);
    const { store, close } = openStore(config);
    try {
      const result = await runDoctor(config, new Runner(), store);
      process.stdout.write(on.has('--json') ? `${JSON.stringify(result, null, 2)}\n` : formatDoctorReport(result));
      return result.ok ? 0 : 1;
    } finally {
      close();
    }
  });
}
