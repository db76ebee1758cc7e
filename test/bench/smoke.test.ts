import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parseXml } from '../helpers/xml.js';

/**
 * `bench/run --smoke`: every benchmark end to end with tiny counts, in labs of its own, so the
 * bench code does not rot. It checks that the reports hold every figure; it asserts no target
 * and no timing (the figures of a smoke run mean nothing).
 */
const REPO = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'ts-overlay-bench-smoke-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('bench/run --smoke', () => {
  it('runs every benchmark and writes report.md, report.json and chart.svg with every figure', async () => {
    const run = await promisify(execFile)('bash', [resolve(REPO, 'bench/run'), '--smoke'], { cwd: REPO, env: { ...process.env, BENCH_RESULTS_DIR: dir }, maxBuffer: 64 * 1024 * 1024, timeout: 900_000 })
      .catch((err: { stdout?: string; stderr?: string }) => { throw new Error(`bench/run --smoke failed:\n${err.stdout}\n${err.stderr}`); });
    expect(run.stdout).toContain('**Targets**');

    const report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as { smoke: boolean; missing: string[]; targets: Array<{ figure: number | null }>; ratios: Record<string, number | null> };
    expect(report.smoke).toBe(true);
    // What the side-by-side benchmark saw go wrong, in the failure's first line (CI shows little).
    const { problems = [] } = JSON.parse(readFileSync(join(dir, 'compare.json'), 'utf8')) as { problems?: string[] };
    expect(report.missing, problems.join('; ')).toEqual([]);
    expect(report.targets.length).toBe(16); // issue 5's 13 (API p99 twice: at saturation and at a given load) and issue 7's two name-freshness targets
    for (const t of report.targets) expect(Number.isFinite(t.figure)).toBe(true);
    for (const [name, r] of Object.entries(report.ratios)) expect(Number.isFinite(r), name).toBe(true);

    const md = readFileSync(join(dir, 'report.md'), 'utf8');
    expect(md).toContain('SMOKE RUN');
    expect(md).not.toContain('n/a');
    for (const row of ['underlay', 'kernel VXLAN', 'ts-overlay', "Docker's classic overlay", "Docker's swarm overlay", '**Names across hosts**', '**Cost of `-o encrypted=true`**']) expect(md).toContain(row);
    const svg = parseXml(readFileSync(join(dir, 'chart.svg'), 'utf8'));
    expect(svg.elements[0]).toBe('svg');
    expect(svg.texts).not.toContain('n/a');
  }, 900_000);
});
