import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BurstLog } from '../../src/lib/burst-log.js';

/** A real pino logger writing into an array, so the lines are what an operator would read. */
function capture() {
  const lines: Array<{ level: number; msg: string; more?: number; kind?: string }> = [];
  const out = new Writable({ write(chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  return { lines, log: pino({ level: 'info' }, out) };
}

describe('BurstLog', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('logs the first of a burst at once and the rest of the second as one counted line', async () => {
    const { lines, log } = capture();
    const refusals = new BurstLog(log, 1000);
    for (let i = 1; i <= 500; i++) refusals.warn({ kind: 'busy' }, `busy ${i}`);
    await vi.advanceTimersByTimeAsync(0);
    expect(lines.map((l) => l.msg)).toEqual(['busy 1']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ level: 40, kind: 'busy', more: 499, msg: '499 more like it in the last 1000 ms, the last: busy 500' });
  });

  it('writes no summary for a lone warning, and logs the next burst\'s first at once again', async () => {
    const { lines, log } = capture();
    const refusals = new BurstLog(log, 1000);
    refusals.warn({}, 'one');
    await vi.advanceTimersByTimeAsync(5000);
    refusals.warn({}, 'two');
    refusals.warn({}, 'three');
    await vi.advanceTimersByTimeAsync(1000);
    expect(lines.map((l) => l.msg)).toEqual(['one', 'two', '1 more like it in the last 1000 ms, the last: three']);
  });
});
