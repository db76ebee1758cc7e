/** One named outcome of the kit. */
export interface CheckResult {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  /** A note for the reader that never fails a run (ok is then always true). */
  readonly informational?: boolean;
}

/** Collects results in the order the checks ran, and hands each on as it arrives. */
export class CheckLog {
  readonly results: CheckResult[] = [];

  constructor(private readonly onResult?: (r: CheckResult) => void) {}

  pass(name: string, detail: string): void {
    this.add({ name, ok: true, detail });
  }

  fail(name: string, detail: string): void {
    this.add({ name, ok: false, detail });
  }

  info(name: string, detail: string): void {
    this.add({ name, ok: true, detail, informational: true });
  }

  /** Passes when there are no problems; otherwise fails with all of them. */
  verdict(name: string, problems: readonly string[], passDetail: string): boolean {
    if (problems.length === 0) this.pass(name, passDetail);
    else this.fail(name, problems.join('; '));
    return problems.length === 0;
  }

  private add(r: CheckResult): void {
    this.results.push(r);
    this.onResult?.(r);
  }
}
