#!/usr/bin/env node
import { serve, serveHelp } from './cli/serve.js';
import { VERSION } from './version.js';

const usage = `Usage: ts-overlay <command> [flags]

Commands:
  serve     run the plugin (network and IPAM driver) on this host

Run "ts-overlay <command> --help" for a command's flags.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--version' || command === 'version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage);
    return command ? 0 : 2;
  }
  if (command === 'serve') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(serveHelp);
      return 0;
    }
    return serve(rest);
  }
  process.stderr.write(`ts-overlay: unknown command "${command}"\n\n${usage}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`ts-overlay: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
