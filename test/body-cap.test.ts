/**
 * HTTP mode caps request bodies before Bolt reads them (issue 16, "Also"): the real bot over HTTP.
 */
import { request } from "node:http";
import { afterEach, expect, it } from "vitest";
import { MAX_BODY_BYTES } from "../src/server.js";
import { startTestBot, type TestBot } from "./helpers/bot.js";
import { sendCommand } from "./helpers/slack-requests.js";

let t: TestBot | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

function post(url: string, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end(body);
  });
}

it("a body over the cap gets 413 and a chunked body 411, before Bolt; a normal command still works", async () => {
  t = await startTestBot();
  const big = "x".repeat(MAX_BODY_BYTES + 1);
  expect(await post(t.url, { "content-type": "application/x-www-form-urlencoded" }, big)).toBe(413);
  expect(
    await post(t.url, { "content-type": "application/json", "transfer-encoding": "chunked" }, "{}"),
  ).toBe(411);
  expect(t.logs.join("\n")).not.toContain("signature");
  const res = await sendCommand(t.url, { text: "help", responseUrl: t.fake.responseUrl("cap") });
  expect(res.status).toBe(200);
});
