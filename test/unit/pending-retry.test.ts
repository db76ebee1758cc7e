import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PendingRetry } from '../../src/lib/retry.js';

describe('PendingRetry', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('runs one retry for any number of failures while it waits, and another for a failure after it ran', () => {
    let runs = 0;
    const retry = new PendingRetry(2000, () => runs++);
    for (let i = 0; i < 10; i++) retry.arm();
    vi.advanceTimersByTime(1999);
    expect(runs).toBe(0);
    vi.advanceTimersByTime(1);
    expect(runs).toBe(1);
    vi.advanceTimersByTime(10_000);
    expect(runs).toBe(1); // nothing failed since: nothing more
    retry.arm();
    vi.advanceTimersByTime(2000);
    expect(runs).toBe(2);
  });

  it('runs nothing once cancelled, and can be armed again', () => {
    let runs = 0;
    const retry = new PendingRetry(1000, () => runs++);
    retry.arm();
    retry.cancel();
    vi.advanceTimersByTime(5000);
    expect(runs).toBe(0);
    retry.arm();
    vi.advanceTimersByTime(1000);
    expect(runs).toBe(1);
  });

  it('once closed, runs nothing and is armed no more, as when a retry under way fails after its owner stopped', () => {
    let runs = 0;
    const retry = new PendingRetry(1000, () => runs++);
    retry.arm();
    retry.close();
    retry.arm();
    vi.advanceTimersByTime(5000);
    expect(runs).toBe(0);
  });
});
