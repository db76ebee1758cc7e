/**
 * The report of one `npm run bench`: reads compare.json, control-plane.json, names.json,
 * encryption.json and many-networks.json from the results folder, writes report.md, report.json and chart.svg next to them, prints the tables.
 * BENCH_RESULTS_DIR: the folder (default bench/results); BENCH_COMMAND: the command the report
 * names (default: benchCommand). --check: exit 1 if a figure is missing
 * (what the smoke test relies on), unless only Docker's overlays' figures are and compare.json
 * records why (checkComplete); targets are reported, never asserted.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { REPO } from './bench-lab.js';
import { ratioChart } from './chart.js';
import { benchCommand, buildReport, checkComplete, type CompareFigures, type ControlPlaneFigures, type EncryptionFigures, type ManyNetworksFigures, type NamesFigures, reportMarkdown } from './report-model.js';

const dir = process.env.BENCH_RESULTS_DIR ?? resolve(REPO, 'bench/results');
const check = process.argv.includes('--check');

const read = <T>(file: string): T | undefined => (existsSync(resolve(dir, file)) ? (JSON.parse(readFileSync(resolve(dir, file), 'utf8')) as T) : undefined);
const compare = read<CompareFigures>('compare.json');
if (!compare) {
  console.error(`no ${resolve(dir, 'compare.json')}: run bench/compare.ts first (npm run bench)`);
  process.exit(1);
}
const command = benchCommand(compare, process.env.BENCH_COMMAND);
const controlPlane = read<ControlPlaneFigures>('control-plane.json');
const names = read<NamesFigures>('names.json');
const encryption = read<EncryptionFigures>('encryption.json');
const manyNetworks = read<ManyNetworksFigures>('many-networks.json');
const report = buildReport(compare, controlPlane, names, encryption, manyNetworks);

writeFileSync(resolve(dir, 'report.md'), reportMarkdown(report, command));
writeFileSync(resolve(dir, 'chart.svg'), ratioChart(`ts-overlay side by side, ${report.date.slice(0, 10)}${report.smoke ? ' (smoke run)' : ''}`, report.chart));
writeFileSync(resolve(dir, 'report.json'), `${JSON.stringify({
  date: report.date,
  command,
  smoke: report.smoke,
  machine: report.machine,
  targets: report.targets,
  ratios: report.ratios,
  missing: report.missing,
  compare,
  controlPlane: controlPlane ?? null,
  names: names ?? null,
  encryption: encryption ?? null,
  manyNetworks: manyNetworks ?? null,
}, null, 2)}\n`);

console.log(report.markdownTables);
console.log(`\nreport: ${resolve(dir, 'report.md')}, ${resolve(dir, 'report.json')}, ${resolve(dir, 'chart.svg')}`);
if (report.missing.length) console.error(`missing figures: ${report.missing.join(', ')}${report.problems.length ? `; problems: ${report.problems.join('; ')}` : ''}`);
const incomplete = checkComplete(report.missing, report.problems);
if (check && incomplete) {
  console.error(incomplete);
  process.exit(1);
}
