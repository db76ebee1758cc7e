/**
 * A small SVG bar chart of ratios, written by hand (no charting dependency): one panel per
 * group, one bar per item, a dashed line at the group's reference (1.0x) and, where the group
 * has one, a red tick at the target.
 */
export interface ChartGroup {
  readonly title: string;
  readonly bars: ReadonlyArray<{ readonly label: string; readonly value: number; readonly highlight?: boolean }>;
  /** Where the dashed reference line goes (1 for ratios; none for plain figures). */
  readonly reference?: number;
  readonly target?: number;
  readonly unit: string;
}

const WIDTH = 760;
const LABEL_W = 300;
const BAR_H = 18;
const GAP = 6;
const PAD = 12;

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function ratioChart(title: string, groups: readonly ChartGroup[]): string {
  const parts: string[] = [];
  let y = PAD + 18;
  parts.push(`<text x="${PAD}" y="${y}" font-size="15" font-weight="bold">${escape(title)}</text>`);
  y += 14;
  const plotW = WIDTH - LABEL_W - PAD * 2 - 60;
  for (const g of groups) {
    y += 20;
    parts.push(`<text x="${PAD}" y="${y}" font-size="13" font-weight="bold">${escape(g.title)}</text>`);
    y += 8;
    const finite = g.bars.map((b) => b.value).filter(Number.isFinite);
    // Bars grow from zero, to the left for negative figures (convergence can be negative).
    const max = Math.max(0, g.reference ?? 0, g.target ?? 0, ...finite) * 1.08 || 1;
    const min = Math.min(0, ...finite) * 1.08;
    const x0 = PAD + LABEL_W;
    const at = (v: number) => x0 + ((v - min) / (max - min)) * plotW;
    const top = y;
    for (const b of g.bars) {
      const ok = Number.isFinite(b.value);
      const from = ok ? Math.min(at(0), at(b.value)) : at(0);
      const w = ok ? Math.max(1, Math.abs(at(b.value) - at(0))) : 0;
      parts.push(`<text x="${x0 - 6}" y="${y + BAR_H - 5}" font-size="12" text-anchor="end">${escape(b.label)}</text>`);
      parts.push(`<rect x="${from.toFixed(1)}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${b.highlight ? '#2b6cb0' : '#a0aec0'}"/>`);
      parts.push(`<text x="${(Math.max(at(0), from + w) + 4).toFixed(1)}" y="${y + BAR_H - 5}" font-size="12">${ok ? `${b.value.toFixed(g.unit === 'x' ? 2 : 0)}${g.unit}` : 'n/a'}</text>`);
      y += BAR_H + GAP;
    }
    const line = (v: number, colour: string, dash: string) => {
      const x = at(v).toFixed(1);
      parts.push(`<line x1="${x}" y1="${top - 3}" x2="${x}" y2="${y - GAP + 3}" stroke="${colour}" stroke-width="1.5" stroke-dasharray="${dash}"/>`);
    };
    if (min < 0) line(0, '#4a5568', '1 0');
    if (g.reference !== undefined) line(g.reference, '#4a5568', '4 3');
    if (g.target !== undefined) line(g.target, '#e53e3e', '2 2');
  }
  y += PAD;
  parts.push(`<text x="${PAD}" y="${y}" font-size="11" fill="#4a5568">dashed grey: 1.0x; dotted red: target; blue: ts-overlay</text>`);
  y += PAD;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${y}" viewBox="0 0 ${WIDTH} ${y}" font-family="sans-serif">`,
    `<rect width="${WIDTH}" height="${y}" fill="#ffffff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
