import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { sh } from './netns.js';

/** A finished capture: its raw pcap bytes, and how many of its packets match a tcpdump filter. */
export interface Capture {
  readonly bytes: Buffer;
  count(filter: string): number;
}

/**
 * Captures what crosses `iface` in namespace `ns` while `traffic` runs, into `file`. Immediate
 * mode: otherwise packets still in the kernel's ring when tcpdump is stopped are never written;
 * the pause after the traffic lets the last replies arrive.
 */
export async function captureWhile(ns: string, iface: string, file: string, traffic: () => unknown): Promise<Capture> {
  const dump = spawn('ip', ['netns', 'exec', ns, 'tcpdump', '-Z', 'root', '-i', iface, '-n', '--immediate-mode', '-U', '-s', '0', '-w', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    dump.stderr.on('data', (d: Buffer) => d.toString().includes('listening on') && resolve());
    dump.once('exit', (code) => reject(new Error(`tcpdump exited (${code})`)));
  });
  await traffic();
  await new Promise((r) => setTimeout(r, 300));
  const exited = new Promise((r) => dump.once('exit', r));
  dump.kill('SIGINT');
  await exited;
  return {
    bytes: readFileSync(file),
    count: (filter) => sh('tcpdump', ['-r', file, '-n', filter]).split('\n').filter(Boolean).length,
  };
}
