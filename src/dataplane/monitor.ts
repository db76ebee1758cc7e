import { execa, type ResultPromise } from 'execa';

/**
 * Watches the kernel for someone removing our devices or FDB entries (`ip monitor link`,
 * `bridge monitor fdb`), so that drift is repaired in moments instead of at the next periodic
 * reconcile. It only says "look again": the reconcile decides what is wrong. Every deleted
 * link's name also goes to `onLinkDeleted` (a spare interface deleted by hand is not handed out).
 *
 * The monitor also reports the deletions the plugin makes itself: every container removed
 * takes its entries off every other host. Only a deleted remote entry (one with a `dst`) that
 * `fdbWanted` says the device must still hold is drift; the others each used to start a whole
 * reconcile pass on every host.
 */
export class KernelMonitor {
  private readonly children: ResultPromise[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly netns: string | undefined,
    private readonly onDrift: (what: string) => void,
    private readonly onLinkDeleted: (name: string) => void = () => undefined,
    private readonly debounceMs = 100,
    /** Whether the device of `vni` must hold the remote entry `mac` -> `dst` (by default, every one). */
    private readonly fdbWanted: (vni: number, mac: string, dst: string) => boolean = () => true,
  ) {}

  start(): void {
    this.follow(['ip', ['-o', 'monitor', 'link']], (line) => {
      const name = /^Deleted \d+: ([^@:\s]+)/.exec(line)?.[1];
      if (name === undefined) return;
      this.onLinkDeleted(name);
      if (/^ts(?:h|vx)-\d+$/.test(name)) this.report(name);
    });
    this.follow(['bridge', ['monitor', 'fdb']], (line) => {
      const m = /^Deleted (\S+) dev (tsvx-(\d+))(?:.* dst (\S+))?/.exec(line);
      if (m && m[4] !== undefined && this.fdbWanted(Number(m[3]), m[1]!, m[4])) this.report(`${m[1]} ${m[2]}`);
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const c of this.children) c.kill();
  }

  private follow([cmd, args]: [string, string[]], onLine: (line: string) => void): void {
    if (this.stopped) return;
    const argv = this.netns ? ['-n', this.netns, ...args] : args;
    const child = execa(cmd, argv, { reject: false, buffer: false, stdin: 'ignore', stderr: 'ignore' });
    this.children.push(child);
    let pending = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) onLine(line);
    });
    // A monitor that dies (it should not) is restarted: drift repair must not stop silently.
    void child.then(() => {
      this.children.splice(this.children.indexOf(child), 1);
      if (!this.stopped) setTimeout(() => this.follow([cmd, args], onLine), 1000).unref();
    });
  }

  private report(what: string): void {
    if (this.stopped) return; // output still on its way after stop() must not start a pass
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onDrift(what), this.debounceMs);
  }
}
