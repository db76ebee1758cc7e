import { type ChildProcess, spawn } from 'node:child_process';

/** What became of each line of a request: undefined when it went through, else the tool's words. */
export type LineOutcome = string | undefined;

export type BatchTool = 'ip' | 'bridge';

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
 * An idle session ends after this long unless its owner asks for longer: a process started with
 * `-n NS` keeps that namespace alive, and a quiet plugin needs few helper processes. Under load
 * it never idles this long. (Runner keeps the two whose start lists the namespace far longer.)
 */
export const IDLE_CLOSE_MS = 2000;

/**
 * One long-lived `ip -force -batch -` (or `bridge`), taking requests one after the other on its
 * stdin (a Runner has a few per namespace, see there). Starting a process per change cost the
 * plugin most of its CPU under load (forking a large Node process, then execa's bookkeeping):
 * with a session, a change is a line written to a pipe.
 *
 * Two things about the tools shape this class:
 * - They remember device names: a name resolved once keeps its interface index for the life of
 *   the process, so a device deleted and made again under the same name by anyone else looks
 *   gone ("unknown ifindex", "No such device"). `renew()` moves later requests to a new process
 *   (Runner does so, and retries, when it sees those words); `show` commands, which fill that
 *   memory wholesale, never go through a session.
 * - Some argument errors (a master device that does not exist) make the tool exit. The request
 *   it was working on then fails with `SessionEnded`: some of its lines may have been applied,
 *   so it is not re-run (callers check and repair, as after any failure). The requests queued
 *   behind it had not started: they go to a new process.
 */
export class BatchSession {
  private current: BatchProcess | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly tool: BatchTool,
    private readonly netns: string | undefined,
    /** How long an idle process is kept (one whose start is costly is kept longer: Runner). */
    private readonly idleCloseMs = IDLE_CLOSE_MS,
  ) {}

  /** Applies the lines in order; resolves with one outcome per line. */
  run(lines: readonly string[]): Promise<LineOutcome[]> {
    if (lines.some((l) => l.includes('\n'))) return Promise.reject(new Error('a batch line may not contain a newline'));
    clearTimeout(this.idleTimer);
    if (!this.current?.alive) {
      this.current = new BatchProcess(this.tool, this.netns, {
        idle: () => this.scheduleIdleClose(),
        ended: (queued) => this.onProcessEnded(queued),
      });
    }
    return this.current.run(lines);
  }

  /** Later requests go to a new process (with no remembered names); the old one finishes its own. */
  renew(): void {
    this.current?.finish();
    this.current = undefined;
  }

  /** Ends the process; requests in flight fail with SessionEnded. */
  close(): void {
    clearTimeout(this.idleTimer);
    this.current?.kill();
    this.current = undefined;
  }

  private onProcessEnded(queued: readonly Request[]): void {
    for (const r of queued) this.run(r.lines).then(r.resolve, r.reject);
    this.scheduleIdleClose();
  }

  private scheduleIdleClose(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      if (this.current && this.current.idle) this.close();
    }, this.idleCloseMs).unref();
  }
}

interface Request {
  readonly lines: readonly string[];
  readonly firstLine: number;
  readonly sentinelLine: number;
  readonly outcomes: LineOutcome[];
  readonly resolve: (outcomes: LineOutcome[]) => void;
  readonly reject: (err: Error) => void;
}

/** One tool process: the line numbers it has read, and the requests it has not answered yet. */
class BatchProcess {
  alive = true;
  private readonly child: ChildProcess;
  private nextLine = 1;
  private readonly inFlight: Request[] = [];
  private stderrTail = '';
  private messages: string[] = [];
  /** Requests taken since the last write: they go to the tool together (see run). */
  private unwritten: string[] = [];

  constructor(
    private readonly tool: BatchTool,
    netns: string | undefined,
    private readonly events: {
      /** Its last request was answered. */
      idle(): void;
      /** The process ended: requests written after the one it stopped on were never read. */
      ended(queued: readonly Request[]): void;
    },
  ) {
    const ns = netns ? ['-n', netns] : [];
    this.child = spawn(tool, [...ns, '-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    this.child.stdin!.on('error', () => undefined); // a write after the process died: 'close' reports it
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (chunk: string) => this.onStderr(chunk));
    this.child.on('error', (err) => this.ended(err.message));
    // 'close', not 'exit': the last failure reports may still be in the stderr pipe at exit.
    this.child.on('close', (code, signal) => this.ended(signal ? `signal ${signal}` : `exit ${code}`));
    this.holdNodeOpen(false);
  }

  get idle(): boolean {
    return this.inFlight.length === 0;
  }

  run(lines: readonly string[]): Promise<LineOutcome[]> {
    return new Promise((resolve, reject) => {
      const firstLine = this.nextLine;
      const sentinelLine = firstLine + lines.length;
      this.nextLine = sentinelLine + 1;
      this.inFlight.push({ lines, firstLine, sentinelLine, outcomes: lines.map(() => undefined), resolve, reject });
      this.holdNodeOpen(true);
      // Requests made in the same turn of the event loop (under load, every call the plugin
      // read from its socket in one go) reach the tool in one write: one wake-up of the tool
      // per turn instead of one per request.
      if (this.unwritten.length === 0) setImmediate(() => this.flush());
      this.unwritten.push(...lines, SENTINEL[this.tool]);
    });
  }

  private flush(): void {
    if (this.unwritten.length === 0) return;
    const text = this.unwritten.join('\n') + '\n';
    this.unwritten = [];
    // A process that died meanwhile: 'close' hands its requests on (see ended).
    if (this.child.stdin!.writable) this.child.stdin!.write(text);
  }

  /** No more requests: the tool reads what it has, answers it, and exits at end of input. */
  finish(): void {
    this.flush();
    this.alive = false;
    this.child.stdin!.end();
  }

  kill(): void {
    this.alive = false;
    this.unwritten = [];
    this.child.kill();
    for (const r of this.inFlight.splice(0)) r.reject(new SessionEnded(`${this.tool} batch session closed`));
  }

  private ended(why: string): void {
    if (!this.alive && this.inFlight.length === 0) return;
    this.alive = false;
    const [current, ...queued] = this.inFlight.splice(0);
    current?.reject(new SessionEnded(`${this.tool} stopped (${why})${this.messages.length ? `: ${this.messages.join('; ')}` : ''}`));
    this.events.ended(queued);
  }

  /**
   * An idle process must not keep a command-line run of ts-overlay from exiting; one with
   * requests in flight must (a pending promise alone does not keep Node running).
   */
  private holdNodeOpen(hold: boolean): void {
    for (const h of [this.child, this.child.stdin, this.child.stderr] as Array<{ ref?: () => void; unref?: () => void } | null>) {
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
      // A report past a request's sentinel means its sentinel went through (someone made a
      // device of that name, which the line then deleted): the request is over all the same,
      // and would otherwise wait for ever, and every request behind it.
      while (this.inFlight[0] && n > this.inFlight[0].sentinelLine) this.settleFirst();
      const req = this.inFlight[0];
      if (!req) continue;
      if (n === req.sentinelLine) this.settleFirst();
      else if (n >= req.firstLine) req.outcomes[n - req.firstLine] = message;
    }
  }

  /** The first request in flight is over: its outcomes are what the reports said. */
  private settleFirst(): void {
    const req = this.inFlight.shift()!;
    req.resolve(req.outcomes);
    if (this.inFlight.length === 0) {
      this.holdNodeOpen(false);
      this.events.idle();
    }
  }
}

/** The session's process went away while requests were in flight: their outcome is unknown. */
export class SessionEnded extends Error {}
