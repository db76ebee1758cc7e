import { execa } from 'execa';
import { internal } from '../lib/errors.js';
import { BatchSession, type BatchTool, IDLE_CLOSE_MS, type LineOutcome, SessionEnded } from './batch-session.js';
import { type DeleteFailures, LinkReaper } from './link-reaper.js';

/** What iproute2 says (exiting 0) when the kernel interrupted a dump because entries changed. */
const INTERRUPTED_DUMP = /Dump was interrupted/;
/** `ip -j`/`bridge -j` output: an empty reply (no such objects) is an empty list. */
const jsonList = <T>(out: string): T[] => (out.trim() ? (JSON.parse(out) as T[]) : []);

/** What the tools say about a device they knew by an index that is gone (or never existed). */
const STALE_DEVICE = /unknown ifindex|No such device|Cannot find device/;

/**
 * The long-lived sessions of a Runner: one per tool, and a second `ip` for neighbour entries.
 * The first `neigh` command a process of iproute2 (6.1) runs lists every link of the namespace
 * (its name cache, ll_init_map), and so does the first `fdb` command of `bridge`; `link`
 * commands list nothing (bench/neighbour-dump.sh). The listing holds the kernel's rtnl lock a
 * chunk at a time, which every change to any interface on the machine needs. So:
 * - neighbour entries go through an `ip` process of their own: the interfaces Join makes no
 *   longer wait behind that listing in the same process;
 * - the two processes that list at their start are kept through long quiet spells, so that a
 *   burst of containers after a pause does not start with two listings of the namespace.
 */
type SessionName = BatchTool | 'ip neigh';
function sessionFor(tool: BatchTool, lines: readonly string[]): SessionName {
  if (tool !== 'ip') return tool;
  const neighbours = lines.filter((l) => l.startsWith('neigh ')).length;
  if (neighbours === 0) return 'ip';
  // Lines of one request run in order in one process: a mixed one would put its links behind the listing.
  if (neighbours < lines.length) throw internal('neighbour entries go to ip in a request of their own');
  return 'ip neigh';
}
/** How long the sessions that list the namespace at their start are kept idle. */
const LISTING_SESSION_IDLE_MS = 10 * 60_000;

/**
 * Runs iproute2 and iptables, in a named network namespace or in our own. Node cannot switch
 * namespaces itself, so every command carries the namespace: this also lets the data plane be
 * tested in throwaway namespaces. Argument arrays only, never a shell.
 */
export class Runner {
  private readonly sessions = new Map<SessionName, BatchSession>();
  private reaper: LinkReaper | undefined;

  constructor(readonly netns?: string) {}

  async ip(args: readonly string[]): Promise<string> {
    return this.exec('ip', [...this.nsFlag(), ...args]);
  }

  async bridge(args: readonly string[]): Promise<string> {
    return this.exec('bridge', [...this.nsFlag(), ...args]);
  }

  /** Parses `ip -j ...` output; an empty reply (no such objects) is an empty list. */
  async ipJson<T>(args: readonly string[]): Promise<T[]> {
    return jsonList<T>(await this.ip(['-j', ...args]));
  }

  async bridgeJson<T>(args: readonly string[]): Promise<T[]> {
    return jsonList<T>(await this.bridge(['-j', ...args]));
  }

  /**
   * Like ipJson/bridgeJson, but an error when the kernel interrupted the dump: entries changed
   * while it was read, and the tools then print what they got, which may be inconsistent, and
   * succeed. For a listing of a whole namespace, which any change anywhere interrupts.
   */
  async wholeDumpJson<T>(tool: 'ip' | 'bridge', args: readonly string[]): Promise<T[]> {
    return jsonList<T>(await this.exec(tool, [...this.nsFlag(), '-j', ...args], undefined, INTERRUPTED_DUMP));
  }

  /**
   * Many changes, applied in order through a long-lived batch session (see BatchSession);
   * the failures are reported together. Every line is tried even when one fails, except
   * neighbour lines: `ip neigh` in batch mode exits at the first netlink error, and the lines
   * after it are not tried (batchOutcomes says what that request's lines then count as).
   */
  async batch(tool: BatchTool, lines: readonly string[]): Promise<void> {
    const outcomes = await this.batchOutcomes(tool, lines);
    const failures = outcomes.flatMap((o, i) => (o === undefined ? [] : [`${lines[i]}: ${o}`]));
    if (failures.length > 0) throw internal(`${tool} failed: ${failures.slice(0, 3).join('; ')}${failures.length > 3 ? ` (and ${failures.length - 3} more)` : ''}`);
  }

  /**
   * Like batch, but reports which lines failed (1-based) instead of throwing, so that one bad
   * line among many requests fails only its own request.
   */
  async batchReport(tool: BatchTool, lines: readonly string[]): Promise<Set<number>> {
    const outcomes = await this.batchOutcomes(tool, lines);
    return new Set(outcomes.flatMap((o, i) => (o === undefined ? [] : [i + 1])));
  }

  /** Like batch, but stops at the first failing line (for steps that depend on each other). */
  async batchStrict(tool: BatchTool, lines: readonly string[]): Promise<void> {
    if (lines.length === 0) return;
    await this.exec(tool, [...this.nsFlag(), '-batch', '-'], lines.join('\n') + '\n');
  }

  /**
   * Deletes interfaces, many in one request, in a session of their own (see LinkReaper);
   * resolves with those that could not be deleted. A name not in the namespace is no failure.
   */
  deleteLinks(names: readonly string[]): Promise<DeleteFailures> {
    this.reaper ??= new LinkReaper(this.netns);
    return this.reaper.delete(names);
  }

  /** Ends the batch sessions (the plugin's shutdown; tests that delete their namespace). */
  close(): void {
    for (const s of this.sessions.values()) s.close();
    this.reaper?.close();
  }

  /**
   * One outcome per line. Lines that failed because the session's process knew a device by a
   * stale index (see BatchSession) are tried once more in a new process; so is a request on
   * which the tool stopped for that reason (`ip neigh` exits on a netlink error), all of it,
   * since its lines are safe to repeat or fail harmlessly when repeated. When the tool stopped
   * for another reason, which lines were applied is unknown: all count as failed.
   */
  private async batchOutcomes(tool: BatchTool, lines: readonly string[]): Promise<LineOutcome[]> {
    if (lines.length === 0) return [];
    const name = sessionFor(tool, lines);
    let session = this.sessions.get(name);
    if (!session) this.sessions.set(name, (session = new BatchSession(tool, this.netns, name === 'ip' ? IDLE_CLOSE_MS : LISTING_SESSION_IDLE_MS)));
    const attempt = async (todo: readonly string[]): Promise<LineOutcome[]> => {
      try {
        return await session.run(todo);
      } catch (err) {
        if (!(err instanceof SessionEnded)) throw err;
        return todo.map(() => err.message);
      }
    };
    const outcomes = await attempt(lines);
    const stale = outcomes.flatMap((o, i) => (o !== undefined && STALE_DEVICE.test(o) ? [i] : []));
    if (stale.length === 0) return outcomes;
    session.renew();
    const again = await attempt(stale.map((i) => lines[i]!));
    stale.forEach((i, k) => (outcomes[i] = again[k]));
    return outcomes;
  }

  /** iptables in the namespace; -w waits for the xtables lock instead of failing. */
  async iptables(args: readonly string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
    const [cmd, argv] = this.netns
      ? ['ip', ['netns', 'exec', this.netns, 'iptables', '-w', ...args]]
      : ['iptables', ['-w', ...args]];
    const res = await execa(cmd, argv, { reject: false });
    return { ok: res.exitCode === 0, stdout: res.stdout, stderr: res.stderr };
  }

  /** ethtool in the namespace (device offloads iproute2 cannot set). */
  async ethtool(args: readonly string[]): Promise<string> {
    return this.netns ? this.exec('ip', ['netns', 'exec', this.netns, 'ethtool', ...args]) : this.exec('ethtool', args);
  }

  /**
   * A chain's rules as `iptables -S` prints them, without the leading `-A CHAIN `; undefined
   * when the chain does not exist.
   */
  async iptablesRules(chain: string, table = 'filter'): Promise<string[] | undefined> {
    const res = await this.iptables(['-t', table, '-S', chain]);
    if (!res.ok) {
      if (/no chain|does not exist|incompatible/i.test(res.stderr)) return undefined;
      throw internal(`iptables -t ${table} -S ${chain}: ${res.stderr.trim()}`);
    }
    const prefix = `-A ${chain} `;
    return res.stdout.split('\n').filter((l) => l.startsWith(prefix)).map((l) => l.slice(prefix.length).trim());
  }

  /**
   * Takes a chain of ours away: every rule of `parent` that jumps to it (with matches of its
   * own or not: the chain cannot go while one is left), then the chain. Returns the number of
   * changes; absent is fine.
   */
  async removeChain(chain: string, parent: string): Promise<number> {
    let changes = 0;
    for (const rule of ((await this.iptablesRules(parent)) ?? []).filter((r) => r.endsWith(`-j ${chain}`))) {
      await this.iptablesStrict(['-D', parent, ...rule.split(' ')]);
      changes++;
    }
    if ((await this.iptablesRules(chain)) !== undefined) {
      await this.iptablesStrict(['-F', chain]);
      await this.iptablesStrict(['-X', chain]);
      changes++;
    }
    return changes;
  }

  /** Like iptables, but a failure is an error naming the command. */
  async iptablesStrict(args: readonly string[]): Promise<void> {
    const res = await this.iptables(args);
    if (!res.ok) throw internal(`iptables ${args.join(' ')}: ${res.stderr.trim()}`);
  }

  private nsFlag(): string[] {
    return this.netns ? ['-n', this.netns] : [];
  }

  /** stdout of the command; an error when it fails, or when its stderr says `refuse` (a warning that makes the output untrustworthy). */
  private async exec(cmd: string, args: readonly string[], input?: string, refuse?: RegExp): Promise<string> {
    const res = await execa(cmd, args, { reject: false, ...(input !== undefined ? { input } : {}) });
    if (res.exitCode !== 0 || refuse?.test(res.stderr)) {
      throw internal(`${cmd} ${args.join(' ')} failed: ${res.stderr.trim() || `exit ${res.exitCode}`}${input ? ` (input: ${input.trim().split('\n').slice(0, 3).join('; ')})` : ''}`);
    }
    return res.stdout;
  }
}
