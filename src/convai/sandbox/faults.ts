/** Code-only fault injection: rules queued by a test, taken one request at a time. Never reachable over HTTP. */

export type SandboxEndpoint = "register" | "update" | "deregister" | "list";

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
  fault: Fault;
}

export interface Faults {
  inject(rule: FaultRule): void;
  clear(): void;
  /** The first rule (in injection order) that matches, used up by one; undefined when none. */
  take(endpoint: SandboxEndpoint): Fault | undefined;
}

export function createFaults(): Faults {
  const rules: Array<{ endpoint: SandboxEndpoint | "*"; left: number; fault: Fault }> = [];
  return {
    inject(rule) {
      const times = rule.times ?? 1;
      if (!(times > 0)) throw new Error("FaultRule.times must be positive");
      rules.push({ endpoint: rule.endpoint ?? "*", left: times, fault: rule.fault });
    },
    clear() {
      rules.length = 0;
    },
    take(endpoint) {
      const index = rules.findIndex((r) => r.left > 0 && (r.endpoint === "*" || r.endpoint === endpoint));
      const rule = rules[index];
      if (!rule) return undefined;
      rule.left -= 1;
      if (rule.left <= 0) rules.splice(index, 1);
      return rule.fault;
    },
  };
}
