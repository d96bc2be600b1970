import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { mapLimit } from "../../src/lib/async.js";

describe("mapLimit", () => {
  it("keeps at most `limit` calls in flight and returns results in input order", async () => {
    let inFlight = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0, 6], 4, async (n) => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await sleep(n * 3);
      inFlight -= 1;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 60]);
    expect(most).toBe(4);
  });

  it("an empty list makes no call", async () => {
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });
});
