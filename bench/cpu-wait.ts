/**
 * How much of a phase a thread spent on a CPU and how much it spent runnable but waiting for
 * one, from the kernel's scheduler statistics (/proc/PID/task/TID/schedstat: nanoseconds on a
 * CPU, nanoseconds waiting on a run queue, time slices). A plugin's main thread runs its event
 * loop: while it waits for a CPU, every call it has read or is about to read waits too, however
 * little work the call needs. So a share of waiting close to what is left of the phase after
 * its time on a CPU says the thread was never idle, and the phase's latency is a queue for the
 * machine's CPUs, not for anything inside the plugin.
 */
import { readFileSync } from 'node:fs';

/** A thread's cumulative times at one moment, with the moment itself (all in ms). */
export interface SchedReading {
  readonly atMs: number;
  readonly onCpuMs: number;
  readonly waitingMs: number;
}

/** Over a phase: how long it lasted and the shares of it (0..1) on a CPU and waiting for one. */
export interface CpuWait {
  readonly seconds: number;
  readonly onCpu: number;
  readonly waiting: number;
}

/** Reads a schedstat line ("ON_CPU_NS WAITING_NS SLICES"). */
export function parseSchedstat(text: string, atMs: number): SchedReading {
  const [onCpu, waiting] = text.trim().split(/\s+/).map(Number);
  if (!Number.isFinite(onCpu) || !Number.isFinite(waiting)) throw new Error(`not a schedstat line: "${text.trim()}"`);
  return { atMs, onCpuMs: onCpu! / 1e6, waitingMs: waiting! / 1e6 };
}

/** Thread `tid` of process `pid` now (the main thread by default, whose id is the process's). */
export const readSchedstat = (pid: number, tid = pid): SchedReading =>
  parseSchedstat(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8'), performance.now());

export function cpuWaitBetween(before: SchedReading, after: SchedReading): CpuWait {
  const span = after.atMs - before.atMs;
  if (!(span > 0)) throw new Error('the second schedstat reading must come after the first');
  return { seconds: span / 1000, onCpu: (after.onCpuMs - before.onCpuMs) / span, waiting: (after.waitingMs - before.waitingMs) / span };
}

const percent = (share: number) => `${Math.round(share * 100)} %`;

/** "on a CPU 38 %, waiting for one 61 %" of a phase. */
export const cpuWaitText = (w: CpuWait): string => `on a CPU ${percent(w.onCpu)}, waiting for one ${percent(w.waiting)}`;
