import type { DoctorReport } from './doctor.js';

/** One line per check, OK or FAIL, with the fix under each failure. */
export function formatDoctorReport(r: DoctorReport): string {
  const width = Math.max(...r.checks.map((c) => c.name.length));
  const indent = ' '.repeat(6 + width + 2);
  const lines = [`ts-overlay doctor on ${r.node} (VTEP ${r.vtep ?? 'unknown'})`];
  for (const c of r.checks) {
    lines.push(`${(c.ok ? 'OK' : 'FAIL').padEnd(6)}${c.name.padEnd(width)}  ${c.detail}`);
    if (!c.ok && c.fix) lines.push(`${indent}fix: ${c.fix}`);
  }
  const failed = r.checks.filter((c) => !c.ok).length;
  lines.push(failed ? `${failed} of ${r.checks.length} checks failed` : `all ${r.checks.length} checks passed`);
  return `${lines.join('\n')}\n`;
}
