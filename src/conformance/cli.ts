#!/usr/bin/env node
import { parseArgs } from 'node:util';
import type { CheckResult } from './results.js';
import { DEFAULT_POOL, runConformance } from './run.js';

const usage = `Usage: node dist/conformance/cli.js --socket PATH [--json] [--pool CIDR] [--network-only | --ipam-only]

Checks a Docker network/IPAM plugin against the remote API contract as dockerd uses it:
Plugin.Activate and capabilities, error replies to bad requests, one full network and
container lifecycle (with repeated and out-of-order calls), and that nothing is left held.
It creates a network and an endpoint through the plugin and removes them again: point it at
a plugin whose host can take that (a test host, not production).

Flags:
  --socket PATH     the plugin's Unix socket (required)
  --json            print the results as a JSON array instead of lines
  --pool CIDR       subnet for a network-only run, when Docker's IPAM stands in [${DEFAULT_POOL}]
  --network-only    test only the NetworkDriver API (pools come from --pool)
  --ipam-only       test only the IpamDriver API
  --timeout MS      longest wait for one reply [30000]
  -h, --help        show this help

Prints one line per check (PASS, FAIL, or INFO for notes that never fail) and a summary
"N checks, N failed". Exit status: 0 all passed, 1 a check failed, 2 bad usage.
`;

function line(r: CheckResult): string {
  const label = r.informational ? 'INFO' : r.ok ? 'PASS' : 'FAIL';
  return `${label} ${r.name}: ${r.detail}`;
}

async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        socket: { type: 'string' },
        json: { type: 'boolean', default: false },
        pool: { type: 'string' },
        'network-only': { type: 'boolean', default: false },
        'ipam-only': { type: 'boolean', default: false },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`conformance: ${(err as Error).message}\nRun with --help for usage.\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  const bad = (msg: string) => (process.stderr.write(`conformance: ${msg}\nRun with --help for usage.\n`), 2);
  if (!values.socket) return bad('--socket is required');
  if (values['network-only'] && values['ipam-only']) return bad('give at most one of --network-only and --ipam-only');
  const timeoutMs = values.timeout === undefined ? undefined : Number(values.timeout);
  if (timeoutMs !== undefined && !(Number.isInteger(timeoutMs) && timeoutMs > 0)) return bad(`--timeout "${values.timeout}" is not a positive number of milliseconds`);

  let results: CheckResult[];
  try {
    results = await runConformance({
      socket: values.socket,
      ...(values.pool !== undefined ? { pool: values.pool } : {}),
      ...(values['network-only'] ? { only: 'network' as const } : values['ipam-only'] ? { only: 'ipam' as const } : {}),
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
      ...(values.json ? {} : { onResult: (r: CheckResult) => process.stdout.write(`${line(r)}\n`) }),
    });
  } catch (err) {
    return bad((err as Error).message);
  }
  const failed = results.filter((r) => !r.ok).length;
  const summary = `${results.length} checks, ${failed} failed`;
  if (values.json) {
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    process.stderr.write(`${summary}\n`);
  } else {
    process.stdout.write(`${summary}\n`);
  }
  return failed > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`conformance: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exitCode = 2;
  },
);
