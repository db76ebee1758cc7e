import { execa, type ResultPromise } from 'execa';

/**
 * Watches the kernel for someone removing our devices or FDB entries (`ip monitor link`,
 * `bridge monitor fdb`), so that drift is repaired in moments instead of at the next periodic
 * reconcile. It only says "look again": the reconcile decides what is wrong.
 */
export class KernelMonitor {
  private readonly children: ResultPromise[] = [];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly netns: string | undefined,
    private readonly onDrift: (what: string) => void,
    private readonly debounceMs = 100,
  ) {}

  start(): void {
    this.follow(['ip', ['-o', 'monitor', 'link']], /^Deleted \d+: (ts(?:h|vx)-\d+)/);
    this.follow(['bridge', ['monitor', 'fdb']], /^Deleted (\S+) dev (tsvx-\d+)/);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const c of this.children) c.kill();
  }

  private follow([cmd, args]: [string, string[]], pattern: RegExp): void {
    if (this.stopped) return;
    const argv = this.netns ? ['-n', this.netns, ...args] : args;
    const child = execa(cmd, argv, { reject: false, buffer: false, stdin: 'ignore' });
    this.children.push(child);
    let pending = '';
    child.stdout?.setEncoding('utf8');
    child.stdout?.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const m = pattern.exec(line);
        if (m) this.report(m.slice(1).join(' '));
      }
    });
    // A monitor that dies (it should not) is restarted: drift repair must not stop silently.
    void child.then(() => {
      if (!this.stopped) setTimeout(() => this.follow([cmd, args], pattern), 1000).unref();
    });
  }

  private report(what: string): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.onDrift(what), this.debounceMs);
  }
}
