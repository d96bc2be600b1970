/** Code-only fault injection: rules queued by a test, taken one request at a time. Never reachable over HTTP. */

export type SandboxEndpoint =
  | "register"
  | "update"
  | "deregister"
  | "list"
  | "character-list"
  | "character-update";

export type Fault =
  | { kind: "delay"; ms: number }
  | { kind: "status"; status: number; body?: unknown; rawBody?: string; headers?: Record<string, string> }
  | { kind: "hang" }
  | { kind: "reset" }
  | { kind: "malformed" }
  | { kind: "apply-then-hang" }
  | { kind: "apply-then-reset" };

export interface FaultRule {
  endpoint?: SandboxEndpoint | "*";
  /** Default 1; Infinity allowed. */
  times?: number;
  /** Let this many matching requests through first (default 0): `after: 2` faults the 3rd call. */
  after?: number;
  fault: Fault;
}

export interface Faults {
  inject(rule: FaultRule): void;
  clear(): void;
  /** The first rule (in injection order) that matches and is due, used up by one; undefined when none. */
  take(endpoint: SandboxEndpoint): Fault | undefined;
}

export function createFaults(): Faults {
  const rules: Array<{ endpoint: SandboxEndpoint | "*"; left: number; skip: number; fault: Fault }> = [];
  return {
    inject(rule) {
      const times = rule.times ?? 1;
      const after = rule.after ?? 0;
      if (!(times > 0)) throw new Error("FaultRule.times must be positive");
      if (!Number.isInteger(after) || after < 0) throw new Error("FaultRule.after must be a whole number");
      rules.push({ endpoint: rule.endpoint ?? "*", left: times, skip: after, fault: rule.fault });
    },
    clear() {
      rules.length = 0;
    },
    take(endpoint) {
      // A matching rule still letting requests through counts this one and the search goes on.
      for (const [index, rule] of rules.entries()) {
        if (rule.left <= 0 || (rule.endpoint !== "*" && rule.endpoint !== endpoint)) continue;
        if (rule.skip > 0) {
          rule.skip -= 1;
          continue;
        }
        rule.left -= 1;
        if (rule.left <= 0) rules.splice(index, 1);
        return rule.fault;
      }
      return undefined;
    },
  };
}
