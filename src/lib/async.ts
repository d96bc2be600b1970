import { setTimeout as sleep } from "node:timers/promises";

/** The promise's value when it settles within `ms`, else undefined (the promise keeps running). */
export async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  const timer = new AbortController();
  const early = await Promise.race([
    promise,
    sleep(ms, undefined, { signal: timer.signal }).then(
      () => undefined,
      () => undefined,
    ),
  ]);
  timer.abort();
  return early;
}
