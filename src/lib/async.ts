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

/**
 * Runs `fn` over `items` with at most `limit` calls in flight, results in input order. `fn` should not
 * reject (a rejection rejects the whole run, as Promise.all does).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  // One iterator shared by the workers: each takes the next item when it is free.
  const queue = items.entries();
  const worker = async (): Promise<void> => {
    for (const [index, item] of queue) results[index] = await fn(item, index);
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return results;
}
