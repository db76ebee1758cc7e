import { describe, expect, it } from 'vitest';
import { parseStalls, summarize } from '../../bench/loop-stalls-summary.js';

describe('event-loop stalls noted by bench/loop-stalls.mjs', () => {
  const stalls = parseStalls(['1000000 4.5', '1100000 25.0', '1200000 50.0', '1300000 51.2', '2000000 80.0', ''].join('\n'));

  it('sums up the stalls that ended within a phase: counts over 20 and over 50 ms, and the longest', () => {
    expect(summarize(stalls, 1_000_000, 1_300_000)).toEqual({ stalls: 4, over20: 3, over50: 1, longestMs: 51.2 });
  });

  it('says nothing of a process that noted no stall in the phase', () => {
    expect(summarize(stalls, 1_400_000, 1_900_000)).toBeUndefined();
  });

  it('refuses a line that is not "MONOTONIC_US LATE_MS"', () => {
    expect(() => parseStalls('12 late')).toThrow(/not a loop-stalls line/);
  });
});
