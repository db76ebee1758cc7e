import { ConfigError } from '../config/config.js';
import { readTopology } from '../topology/model.js';
import { renderDot } from '../topology/dot.js';
import { renderSvg } from '../topology/svg.js';
import { renderText } from '../topology/text.js';
import { openStore, parseCommand, report } from './connect.js';

export const topologyHelp = `Usage: ts-overlay topology [--format text|dot|svg] [--etcd URLS]

Draws the overlay from etcd: nodes with their VTEPs, networks (name, subnet, VNI) and the
endpoints each node has on each network.
  --format text   an indented tree (default)
  --format dot    a Graphviz graph: ts-overlay topology --format dot | dot -Tpng > overlay.png
  --format svg    an SVG picture, no Graphviz needed: ts-overlay topology --format svg > overlay.svg
Takes the serve flags and TS_OVERLAY_* variables to find etcd; needs neither root nor a
plugin on this host.
`;

const RENDERERS = { text: renderText, dot: renderDot, svg: renderSvg } as const;

export function topology(argv: string[]): Promise<number> {
  return report('topology', async () => {
    const { format, rest } = takeFormat(argv);
    const { config, positionals } = parseCommand(rest, []);
    if (positionals.length > 0) throw new ConfigError(`unexpected argument "${positionals[0]}"`);
    const { store, close } = openStore(config);
    try {
      process.stdout.write(RENDERERS[format](await readTopology(store)));
      return 0;
    } finally {
      close();
    }
  });
}

/** --format is this command's own flag; everything else goes to the serve-flag parser. */
export function takeFormat(argv: readonly string[]): { format: keyof typeof RENDERERS; rest: string[] } {
  const rest: string[] = [];
  let format = 'text';
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--format') format = argv[++i] ?? '';
    else if (arg.startsWith('--format=')) format = arg.slice('--format='.length);
    else rest.push(arg);
  }
  if (!Object.hasOwn(RENDERERS, format)) throw new ConfigError(`--format: "${format}" is not one of text, dot, svg`);
  return { format: format as keyof typeof RENDERERS, rest };
}
