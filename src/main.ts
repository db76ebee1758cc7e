#!/usr/bin/env node
import { VERSION } from './version.js';

interface Command {
  /** The command's module, loaded only when it runs: `--version` and `--help` need none of them. */
  load(): Promise<{ run: (argv: string[]) => Promise<number>; help: string }>;
  summary: string;
}

const commands: Record<string, Command> = {
  serve: {
    load: async () => import('./cli/serve.js').then((m) => ({ run: m.serve, help: m.serveHelp })),
    summary: 'run the plugin (network and IPAM driver) on this host',
  },
  status: {
    load: async () => import('./cli/status.js').then((m) => ({ run: m.status, help: m.statusHelp })),
    summary: 'show nodes, networks, endpoints and drift',
  },
  network: {
    load: async () => import('./cli/network.js').then((m) => ({ run: m.network, help: m.networkHelp })),
    summary: 'network rm NAME: remove a network from every host',
  },
  doctor: {
    load: async () => import('./cli/doctor.js').then((m) => ({ run: m.doctor, help: m.doctorHelp })),
    summary: 'check this host: kernel, MTU, routes, port, etcd, clock, plugin',
  },
  topology: {
    load: async () => import('./cli/topology.js').then((m) => ({ run: m.topology, help: m.topologyHelp })),
    summary: 'draw nodes, networks and endpoints (--format text|dot|svg)',
  },
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
  const { run, help } = await command.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(help);
    return 0;
  }
  return run(rest);
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ts-overlay: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
