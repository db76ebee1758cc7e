#!/usr/bin/env node
import { doctor, doctorHelp } from './cli/doctor.js';
import { network, networkHelp } from './cli/network.js';
import { serve, serveHelp } from './cli/serve.js';
import { status, statusHelp } from './cli/status.js';
import { topology, topologyHelp } from './cli/topology.js';
import { VERSION } from './version.js';

const commands: Record<string, { run: (argv: string[]) => Promise<number>; help: string; summary: string }> = {
  serve: { run: serve, help: serveHelp, summary: 'run the plugin (network and IPAM driver) on this host' },
  status: { run: status, help: statusHelp, summary: 'show nodes, networks, endpoints and drift' },
  network: { run: network, help: networkHelp, summary: 'network rm NAME: remove a network from every host' },
  doctor: { run: doctor, help: doctorHelp, summary: 'check this host: kernel, MTU, routes, port, etcd, clock, plugin' },
  topology: { run: topology, help: topologyHelp, summary: 'draw nodes, networks and endpoints (--format text|dot|svg)' },
};

const usage = `Usage: ts-overlay <command> [flags]

Commands:
${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`).join('\n')}

Run "ts-overlay <command> --help" for a command's flags.
`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage);
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`ts-overlay: unknown command "${name}"\n\n${usage}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help);
    return 0;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ts-overlay: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
