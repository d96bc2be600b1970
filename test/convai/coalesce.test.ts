/**
 * Coalescing as pure logic: a client whose calls the test settles by hand, so every interleaving of
 * reads and changes is exact. The end-to-end version runs the real bot against the sandbox.
 */
import { describe, expect, it } from "vitest";
import { coalesceReads } from "../../src/convai/coalesce.js";
import type { ConvaiClient, ConvaiModel, ConvaiResult } from "../../src/convai/types.js";

type ListResult = ConvaiResult<ConvaiModel[]>;

function deferred<T>() {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Each list() and register() waits for the test to settle it. */
function manualClient() {
  const lists: Array<ReturnType<typeof deferred<ListResult>>> = [];
  const registers: Array<ReturnType<typeof deferred<ConvaiResult<{ message?: string }>>>> = [];
  const client: ConvaiClient = {
    prefix: "/llm-models",
    baseUrl: "http://127.0.0.1:1",
    list() {
      const d = deferred<ListResult>();
      lists.push(d);
      return d.promise;
    },
    register() {
      const d = deferred<ConvaiResult<{ message?: string }>>();
      registers.push(d);
      return d.promise;
    },
    update: () => Promise.resolve({ ok: true, data: {}, status: 200 }),
    deregister: () => Promise.resolve({ ok: true, data: {}, status: 200 }),
    listCharacters: () => Promise.resolve({ ok: true, data: [], status: 200 }),
    setCharacterModel: () => Promise.resolve({ ok: true, data: {}, status: 200 }),
    close: () => Promise.resolve(),
  };
  return { client, lists, registers };
}

const models = (...groups: string[]): ListResult => ({
  ok: true,
  status: 200,
  data: groups.map((g) => ({ model_group_name: g, model_name: "m" })),
});
const REGISTER = { model_group_name: "g", model_name: "m", api_key: "k", is_uncensored: false };

describe("coalesceReads", () => {
  it("concurrent readers share one call and all get its answer", async () => {
    const { client, lists } = manualClient();
    const c = coalesceReads(client);
    const readers = Array.from({ length: 10 }, () => c.list());
    expect(lists).toHaveLength(1);
    lists[0]?.resolve(models("a"));
    const answers = await Promise.all(readers);
    expect(answers.every((a) => a.ok && a.data[0]?.model_group_name === "a")).toBe(true);
    expect(c.listCalls).toBe(1);
  });

  it("a read after the shared call settled makes a new call (no cache)", async () => {
    const { client, lists } = manualClient();
    const c = coalesceReads(client);
    const first = c.list();
    lists[0]?.resolve(models("a"));
    await first;
    const second = c.list();
    expect(lists).toHaveLength(2);
    lists[1]?.resolve(models("a", "b"));
    expect((await second).ok).toBe(true);
  });

  it("a read that starts after a change completed never joins a call that started before it", async () => {
    const { client, lists, registers } = manualClient();
    const c = coalesceReads(client);
    const before = c.list(); // in flight, started before the change
    const change = c.register(REGISTER);
    const during = c.list(); // the change has not completed: sharing is allowed
    expect(lists).toHaveLength(1);
    registers[0]?.resolve({ ok: true, data: {}, status: 200 });
    await change;
    const after = c.list(); // the change completed: must not get the pre-change answer
    expect(lists).toHaveLength(2);
    lists[0]?.resolve(models());
    lists[1]?.resolve(models("g"));
    expect(await before).toEqual(models());
    expect(await during).toEqual(models());
    expect(await after).toEqual(models("g"));
  });

  it("a failed or ambiguous change also starts a new generation", async () => {
    const { client, lists, registers } = manualClient();
    const c = coalesceReads(client);
    void c.list();
    const change = c.register(REGISTER);
    registers[0]?.resolve({ ok: false, kind: "timeout", message: "no answer", ambiguous: true });
    await change;
    void c.list();
    expect(lists).toHaveLength(2);
  });

  it("a shared call that fails fails every reader alike, and the next read tries again", async () => {
    const { client, lists } = manualClient();
    const c = coalesceReads(client);
    const readers = [c.list(), c.list(), c.list()];
    const failure: ListResult = {
      ok: false,
      kind: "server",
      message: "boom",
      ambiguous: false,
      transactionID: "tx1",
    };
    lists[0]?.resolve(failure);
    expect(await Promise.all(readers)).toEqual([failure, failure, failure]);
    const next = c.list();
    expect(lists).toHaveLength(2);
    lists[1]?.resolve(models("a"));
    expect((await next).ok).toBe(true);
  });

  it("character reads are shared too, and a character update starts their new generation", async () => {
    let calls = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const { client } = manualClient();
    client.listCharacters = async () => {
      calls += 1;
      await gate;
      return { ok: true, data: [], status: 200 };
    };
    const c = coalesceReads(client);
    const a = c.listCharacters();
    const b = c.listCharacters();
    expect(calls).toBe(1);
    await c.setCharacterModel("char-1", "g");
    const after = c.listCharacters();
    expect(calls).toBe(2);
    release();
    await Promise.all([a, b, after]);
    expect(c.characterListCalls).toBe(2);
  });

  // register is covered above with a change the test settles by hand; these two answer at once.
  it.each(["update", "deregister"] as const)("a completed %s starts a new generation", async (op) => {
    const { client, lists } = manualClient();
    const c = coalesceReads(client);
    void c.list();
    if (op === "update") await c.update({ model_group_name: "g", display_name: "x" });
    else await c.deregister("g");
    void c.list();
    expect(lists).toHaveLength(2);
  });
});

describe("gathering a burst of reads", () => {
  it("a read with gatherMs waits before it calls, and readers arriving meanwhile share it", async () => {
    const { client, lists } = manualClient();
    const c = coalesceReads(client);
    const first = c.list({ gatherMs: 60 });
    const second = c.list();
    expect(lists).toHaveLength(0); // nothing sent yet: still gathering
    await new Promise((r) => setTimeout(r, 90));
    expect(lists).toHaveLength(1);
    lists[0]?.resolve(models("a"));
    expect(await first).toEqual(await second);
    expect(c.listCalls).toBe(1);
  });

  it("a change that completes while a read gathers: later readers get a call of their own", async () => {
    const { client, lists } = manualClient();
    const c = coalesceReads(client);
    void c.list({ gatherMs: 60 });
    await c.update({ model_group_name: "g", display_name: "x" });
    void c.list({ gatherMs: 60 });
    await new Promise((r) => setTimeout(r, 90));
    expect(lists).toHaveLength(2);
  });
});
