import type { Logger } from "../logger.js";

/**
 * A 429 from Convai slows every caller of this replica, not only the one that got it (SPEC §12): the
 * first 429 opens a window until its Retry-After, and every call waits for the window to close before
 * it is sent, or fails fast when its deadline ends first. One log line per window, not per call.
 */
export class RateGate {
  private until = 0;

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** How long a call must still wait before it may be sent; 0 when the window is closed. */
  pause(): number {
    return Math.max(0, this.until - this.now());
  }

  /** Convai answered 429: the window runs at least until Retry-After (1 s when it gave none). */
  limited(retryAfterMs: number | undefined): void {
    const now = this.now();
    const end = now + (retryAfterMs ?? 1000);
    if (end <= this.until) return;
    if (this.until <= now) {
      this.log.warn(
        { retryAfterMs: end - now },
        "Convai is rate limiting the bot; every Convai call of this replica waits until it allows more.",
      );
    }
    this.until = end;
  }
}
