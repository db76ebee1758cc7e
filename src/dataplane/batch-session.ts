import { type ChildProcess, spawn } from 'node:child_process';

/** What became of each line of a request: undefined when it went through, else the tool's words. */
export type LineOutcome = string | undefined;

/**
 * A device name that never exists: a line deleting it always fails, and its failure report
 * ("Command failed -:N") marks the end of a request in the tool's error stream.
 */
const SENTINEL_DEVICE = 'tso-nosuchdev';
const SENTINEL: Record<BatchTool, string> = {
  ip: `link del ${SENTINEL_DEVICE}`,
  bridge: `fdb del 00:00:00:00:00:01 dev ${SENTINEL_DEVICE}`,
};
const FAILED_LINE = /^Command failed -:(\d+)$/;
/**
 * An idle session ends after this long: a process started with `-n NS` keeps that namespace
 * alive, and a quiet plugin needs no helper process. Under load it never idles this long.
 */
const IDLE_CLOSE_MS = 2000;

export type BatchTool = 'ip' | 'bridge';

interface Request {
  readonly lines: readonly string[];
  readonly firstLine: number;
  readonly sentinelLine: number;
  readonly outcomes: LineOutcome[];
  readonly resolve: (outcomes: LineOutcome[]) => void;
  readonly reject: (err: Error) => void;
}

/**
 * One long-lived `ip -force -batch -` (or `bridge`) process that takes requests one after the
 * other on its stdin. Starting a process per change cost the plugin most of its CPU under load
 * (forking a large Node process, then execa's bookkeeping): with a session, a change is a line
 * written to a pipe.
 *
 * The tool numbers the lines it reads and, with -force, reports each failure on stderr as its
 * message(s) followed by "Command failed -:N", then goes on. So a request is its lines plus a
 * sentinel line that always fails: once the sentinel's report arrives, every line before it has
 * been applied or reported. Only modifying commands go through a session: `show` commands would
 * fill the tool's name-to-index cache, which a long-lived process would then keep stale.
 *
 * Some argument errors (a master device that does not exist) make the tool exit instead. The
 * request it was working on then fails with `SessionEnded`: some of its lines may have been
 * applied, so it is not re-run (callers check and repair, as they do after any failure). The
 * requests queued behind it had not started: they go to a new process.
 */
export class BatchSession {
  private child: ChildProcess | undefined;
  private nextLine = 1;
  private readonly inFlight: Request[] = [];
  private stderrTail = '';
  private messages: string[] = [];
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tool: BatchTool,
    private readonly netns: string | undefined,
  ) {}

  /** Applies the lines in order; resolves with one outcome per line. */
  run(lines: readonly string[]): Promise<LineOutcome[]> {
    if (lines.some((l) => l.includes('\n'))) return Promise.reject(new Error('a batch line may not contain a newline'));
    clearTimeout(this.idleTimer);
    const child = this.child ?? this.start();
    return new Promise((resolve, reject) => {
      const firstLine = this.nextLine;
      const sentinelLine = firstLine + lines.length;
      this.nextLine = sentinelLine + 1;
      this.inFlight.push({ lines, firstLine, sentinelLine, outcomes: lines.map(() => undefined), resolve, reject });
      this.holdProcessOpen(true);
      child.stdin!.write([...lines, SENTINEL[this.tool]].join('\n') + '\n');
    });
  }

  /** Ends the process; requests in flight fail with SessionEnded. */
  close(): void {
    clearTimeout(this.idleTimer);
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    child.stdin?.end();
    child.kill();
    for (const r of this.inFlight.splice(0)) r.reject(new SessionEnded(`${this.tool} batch session closed`));
  }

  private start(): ChildProcess {
    const ns = this.netns ? ['-n', this.netns] : [];
    const child = spawn(this.tool, [...ns, '-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child = child;
    this.nextLine = 1;
    this.stderrTail = '';
    this.messages = [];
    child.stdin!.on('error', () => undefined); // a write after the process died: 'exit' reports it
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => this.onStderr(chunk));
    const ended = (why: string) => {
      if (this.child !== child) return;
      this.child = undefined;
      const [current, ...queued] = this.inFlight.splice(0);
      current?.reject(new SessionEnded(`${this.tool} stopped (${why})${this.messages.length ? `: ${this.messages.join('; ')}` : ''}`));
      for (const r of queued) this.run(r.lines).then(r.resolve, r.reject);
    };
    child.on('error', (err) => ended(err.message));
    // 'close', not 'exit': the last failure reports may still be in the stderr pipe at exit.
    child.on('close', (code, signal) => ended(signal ? `signal ${signal}` : `exit ${code}`));
    this.holdProcessOpen(false);
    return child;
  }

  private becameIdle(): void {
    this.holdProcessOpen(false);
    this.idleTimer = setTimeout(() => {
      if (this.inFlight.length === 0) this.close();
    }, IDLE_CLOSE_MS).unref();
  }

  /**
   * An idle session must not keep a command-line run of ts-overlay from exiting; one with
   * requests in flight must (a pending promise alone does not keep Node running).
   */
  private holdProcessOpen(hold: boolean): void {
    const c = this.child;
    if (!c) return;
    for (const h of [c, c.stdin, c.stderr] as Array<{ ref?: () => void; unref?: () => void } | null>) {
      if (hold) h?.ref?.();
      else h?.unref?.();
    }
  }

  private onStderr(chunk: string): void {
    const lines = (this.stderrTail + chunk).split('\n');
    this.stderrTail = lines.pop() ?? '';
    for (const raw of lines) {
      const line = raw.trim();
      if (!line) continue;
      const failed = FAILED_LINE.exec(line);
      if (!failed) {
        this.messages.push(line);
        continue;
      }
      const n = Number(failed[1]);
      const message = this.messages.join('; ') || 'failed';
      this.messages = [];
      const req = this.inFlight[0];
      if (!req) continue;
      if (n === req.sentinelLine) {
        this.inFlight.shift();
        if (this.inFlight.length === 0) this.becameIdle();
        req.resolve(req.outcomes);
      } else if (n >= req.firstLine && n < req.sentinelLine) {
        req.outcomes[n - req.firstLine] = message;
      }
    }
  }
}

/** The session's process went away while requests were in flight: their outcome is unknown. */
export class SessionEnded extends Error {}
