/** What each emulated call does and answers, in both published forms (SPEC §2). */
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_BASE_URL } from "../../../src/convai/types.js";
import {
  docsRegister,
  errorBody,
  fingerprintOf,
  ISO,
  MODEL_KEY,
  runCleanups,
  seedRegister,
  start,
  UUID,
} from "./harness.js";

afterEach(runCleanups);

describe("/llm-models (Convai's documentation)", () => {
  it("register answers like the docs, defaults display_name and base_url, and never stores the key", async () => {
    const { call, sandbox } = await start();
    const res = await call(
      "/llm-models/register",
      docsRegister("my-turbo", { display_name: "Turbo (Private)", base_url: "https://api.openai.com/v1" }),
    );
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: "success",
      model_group_name: "my-turbo",
      model_name: "gpt-4o-mini",
      display_name: "Turbo (Private)",
      message: "Model 'my-turbo' registered successfully",
      transactionID: expect.stringMatching(UUID),
    });
    const bare = await call(
      "/llm-models/register",
      docsRegister("raw-mixtral", { model_name: "mixtral", is_uncensored: true }),
    );
    expect(bare.status).toBe(200);
    expect(bare.json).toMatchObject({ display_name: "raw-mixtral", model_name: "mixtral" });

    expect(sandbox.models()).toEqual([
      {
        model_group_name: "my-turbo",
        model_name: "gpt-4o-mini",
        display_name: "Turbo (Private)",
        base_url: "https://api.openai.com/v1",
        is_uncensored: false,
        category: "Private",
        created_at: expect.stringMatching(ISO),
      },
      {
        model_group_name: "raw-mixtral",
        model_name: "mixtral",
        display_name: "raw-mixtral",
        base_url: DEFAULT_BASE_URL,
        is_uncensored: true,
        category: "Private",
        created_at: expect.stringMatching(ISO),
      },
    ]);
    expect(sandbox.keyFingerprint("my-turbo")).toBe(fingerprintOf(MODEL_KEY));
    expect(sandbox.keyFingerprint("nope")).toBeUndefined();
  });

  it.each([
    ["model_group_name", "Missing required field: model_group_name"],
    ["model_name", "Missing required field: model_name"],
    ["api_key", "Missing required field: api_key"],
    ["is_uncensored", "Missing required field: is_uncensored"],
  ])("register without %s gets 400", async (field, message) => {
    const { call, sandbox } = await start();
    const body: Record<string, unknown> = docsRegister("g1");
    delete body[field];
    const res = await call("/llm-models/register", body);
    expect(res.status).toBe(400);
    expect(res.json).toEqual(errorBody(message));
    const blank = await call("/llm-models/register", {
      ...docsRegister("g1"),
      [field]: field === "is_uncensored" ? null : "  ",
    });
    expect(blank.status).toBe(400);
    expect(blank.json).toEqual(errorBody(message));
    expect(sandbox.models()).toEqual([]);
  });

  it("register rejects fields of the wrong type with 400", async () => {
    const { call, sandbox } = await start();
    const flag = await call("/llm-models/register", docsRegister("g1", { is_uncensored: "yes" }));
    expect(flag.status).toBe(400);
    expect(flag.json).toEqual(errorBody("Invalid field: is_uncensored must be a boolean"));
    const name = await call("/llm-models/register", docsRegister("g1", { model_name: 42 }));
    expect(name.json).toEqual(errorBody("Invalid field: model_name must be a string"));
    const url = await call("/llm-models/register", docsRegister("g1", { base_url: "ftp://x" }));
    expect(url.status).toBe(400);
    expect(url.json).toEqual(errorBody("Invalid field: base_url must be an http(s) URL"));
    expect(sandbox.models()).toEqual([]);
  });

  it("register answers 409 for a taken group name or display name (case-insensitive)", async () => {
    const { call, sandbox } = await start();
    expect((await call("/llm-models/register", docsRegister("g1", { display_name: "Turbo" }))).status).toBe(
      200,
    );

    const sameGroup = await call("/llm-models/register", docsRegister("g1", { display_name: "Other" }));
    expect(sameGroup.status).toBe(409);
    expect(sameGroup.json).toEqual(errorBody("Model group name already exists"));

    const sameDisplay = await call("/llm-models/register", docsRegister("g2", { display_name: "tURBO" }));
    expect(sameDisplay.status).toBe(409);
    expect(sameDisplay.json).toEqual(errorBody("Display name already exists"));

    // The default display name is the group name, so it collides too.
    const defaulted = await call("/llm-models/register", docsRegister("TURBO"));
    expect(defaulted.status).toBe(409);
    expect(defaulted.json).toEqual(errorBody("Display name already exists"));

    expect(sandbox.models().map((m) => [m.model_group_name, m.display_name])).toEqual([["g1", "Turbo"]]);
  });

  it("update changes the given fields, lists them, and rotates the key fingerprint", async () => {
    const { call, sandbox } = await start();
    await call("/llm-models/register", docsRegister("my-turbo", { display_name: "Turbo (Private)" }));
    const res = await call("/llm-models/update", {
      model_group_name: "my-turbo",
      display_name: "Turbo v2",
      api_key: "sk-proxy-456",
      model_name: "ignored-by-this-form",
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: "success",
      message: "Model 'my-turbo' updated successfully",
      updated_fields: ["display_name", "api_key"],
      transactionID: expect.stringMatching(UUID),
    });
    expect(sandbox.models()[0]).toMatchObject({ display_name: "Turbo v2", model_name: "gpt-4o-mini" });
    expect(sandbox.keyFingerprint("my-turbo")).toBe(fingerprintOf("sk-proxy-456"));

    const more = await call("/llm-models/update", {
      model_group_name: "my-turbo",
      base_url: "https://llm.my-org.net/v1",
      is_uncensored: true,
      display_name: "turbo V2",
    });
    expect(more.status).toBe(200);
    expect(more.json).toMatchObject({ updated_fields: ["display_name", "base_url", "is_uncensored"] });
    expect(sandbox.models()[0]).toMatchObject({
      display_name: "turbo V2",
      base_url: "https://llm.my-org.net/v1",
      is_uncensored: true,
    });
  });

  it("update answers 400, 404 and 409 as documented", async () => {
    const { call, sandbox } = await start();
    await call("/llm-models/register", docsRegister("a", { display_name: "Alpha" }));
    await call("/llm-models/register", docsRegister("b", { display_name: "Beta" }));

    const noGroup = await call("/llm-models/update", { display_name: "X" });
    expect(noGroup.status).toBe(400);
    expect(noGroup.json).toEqual(errorBody("Missing required field: model_group_name"));

    const nothing = await call("/llm-models/update", {
      model_group_name: "a",
      model_name: "not-in-this-form",
    });
    expect(nothing.status).toBe(400);
    expect(nothing.json).toEqual(errorBody("No valid fields to update"));

    const badFlag = await call("/llm-models/update", { model_group_name: "a", is_uncensored: "true" });
    expect(badFlag.status).toBe(400);
    expect(badFlag.json).toEqual(errorBody("Invalid field: is_uncensored must be a boolean"));

    const blank = await call("/llm-models/update", { model_group_name: "a", display_name: " " });
    expect(blank.status).toBe(400);
    expect(blank.json).toEqual(errorBody("Invalid field: display_name must not be empty"));

    const missing = await call("/llm-models/update", { model_group_name: "zzz", display_name: "Z" });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual(errorBody("Model 'zzz' not found or access denied"));

    const taken = await call("/llm-models/update", { model_group_name: "a", display_name: "BETA" });
    expect(taken.status).toBe(409);
    expect(taken.json).toEqual(errorBody("Display name already exists"));

    expect(sandbox.models().map((m) => m.display_name)).toEqual(["Alpha", "Beta"]);
  });

  it("deregister removes the model, 404 when unknown, 400 without a group", async () => {
    const { call, sandbox } = await start();
    await call("/llm-models/register", docsRegister("my-turbo"));
    const res = await call("/llm-models/deregister", { model_group_name: "my-turbo" });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: "success",
      message: "Model 'my-turbo' deregistered successfully",
      transactionID: expect.stringMatching(UUID),
    });
    expect(sandbox.models()).toEqual([]);
    expect(sandbox.keyFingerprint("my-turbo")).toBeUndefined();

    const again = await call("/llm-models/deregister", { model_group_name: "my-turbo" });
    expect(again.status).toBe(404);
    expect(again.json).toEqual(errorBody("Model 'my-turbo' not found or access denied"));

    const empty = await call("/llm-models/deregister", {});
    expect(empty.status).toBe(400);
    expect(empty.json).toEqual(errorBody("Missing required field: model_group_name"));
  });

  it("list needs no body and returns models sorted by group, with count and without api_key", async () => {
    const { call } = await start();
    const empty = await call("/llm-models/list");
    expect(empty.status).toBe(200);
    expect(empty.json).toEqual({
      status: "success",
      models: [],
      count: 0,
      transactionID: expect.stringMatching(UUID),
    });

    await call("/llm-models/register", docsRegister("zeta"));
    await call("/llm-models/register", docsRegister("alpha", { display_name: "A" }));
    const res = await call("/llm-models/list", {});
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: "success",
      models: [
        {
          model_group_name: "alpha",
          model_name: "gpt-4o-mini",
          display_name: "A",
          base_url: DEFAULT_BASE_URL,
          is_uncensored: false,
          category: "Private",
          created_at: expect.stringMatching(ISO),
        },
        {
          model_group_name: "zeta",
          model_name: "gpt-4o-mini",
          display_name: "zeta",
          base_url: DEFAULT_BASE_URL,
          is_uncensored: false,
          category: "Private",
          created_at: expect.stringMatching(ISO),
        },
      ],
      count: 2,
      transactionID: expect.stringMatching(UUID),
    });
    expect(res.text).not.toContain("api_key");
    expect(res.text).not.toContain(MODEL_KEY);
  });
});

describe("/custom-llm (the seed's OpenAPI)", () => {
  it("register requires base_url, defaults is_uncensored to false and ignores display_name", async () => {
    const { call, sandbox } = await start();
    const res = await call("/custom-llm/register", seedRegister("llama", { display_name: "Not accepted" }));
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: "success",
      model_group_name: "llama",
      model_name: "llama-3-70b",
      display_name: "llama",
      message: "Model 'llama' registered successfully",
      transactionID: expect.stringMatching(UUID),
    });
    expect(sandbox.models()[0]).toMatchObject({
      base_url: "https://llm.example.com/v1",
      is_uncensored: false,
      display_name: "llama",
    });

    for (const field of ["model_group_name", "model_name", "api_key", "base_url"]) {
      const body: Record<string, unknown> = seedRegister("other");
      delete body[field];
      const missing = await call("/custom-llm/register", body);
      expect(missing.status).toBe(400);
      expect(missing.json).toEqual(errorBody(`Missing required field: ${field}`));
    }
    const dup = await call("/custom-llm/register", seedRegister("llama"));
    expect(dup.status).toBe(409);
    expect(dup.json).toEqual(errorBody("Model group name already exists"));
    const flagged = await call("/custom-llm/register", seedRegister("raw", { is_uncensored: true }));
    expect(flagged.status).toBe(200);
    expect(sandbox.models().map((m) => [m.model_group_name, m.is_uncensored])).toEqual([
      ["llama", false],
      ["raw", true],
    ]);
  });

  it("update accepts model_name, base_url, api_key, is_uncensored and ignores display_name", async () => {
    const { call, sandbox } = await start();
    await call("/custom-llm/register", seedRegister("llama"));
    const res = await call("/custom-llm/update", {
      model_group_name: "llama",
      model_name: "llama-3.1-70b",
      api_key: "sk-new",
      display_name: "ignored",
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      status: "success",
      message: "Model 'llama' updated successfully",
      updated_fields: ["model_name", "api_key"],
      transactionID: expect.stringMatching(UUID),
    });
    expect(sandbox.models()[0]).toMatchObject({ model_name: "llama-3.1-70b", display_name: "llama" });
    expect(sandbox.keyFingerprint("llama")).toBe(fingerprintOf("sk-new"));

    const onlyDisplay = await call("/custom-llm/update", { model_group_name: "llama", display_name: "X" });
    expect(onlyDisplay.status).toBe(400);
    expect(onlyDisplay.json).toEqual(errorBody("No valid fields to update"));
    const missing = await call("/custom-llm/update", { model_group_name: "nope", is_uncensored: true });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual(errorBody("Model 'nope' not found or access denied"));
  });

  it("deregister and the bare-array list", async () => {
    const { call } = await start();
    await call("/custom-llm/register", seedRegister("b"));
    await call("/custom-llm/register", seedRegister("a", { model_name: "m-a" }));
    const list = await call("/custom-llm/list");
    expect(list.status).toBe(200);
    expect(list.json).toEqual([
      { model_group_name: "a", model_name: "m-a", base_url: "https://llm.example.com/v1" },
      { model_group_name: "b", model_name: "llama-3-70b", base_url: "https://llm.example.com/v1" },
    ]);
    const gone = await call("/custom-llm/deregister", { model_group_name: "a" });
    expect(gone.status).toBe(200);
    expect(gone.json).toEqual({
      status: "success",
      message: "Model 'a' deregistered successfully",
      transactionID: expect.stringMatching(UUID),
    });
    const again = await call("/custom-llm/deregister", { model_group_name: "a" });
    expect(again.status).toBe(404);
    expect(again.json).toEqual(errorBody("Model 'a' not found or access denied"));
    expect((await call("/custom-llm/list")).json).toEqual([
      { model_group_name: "b", model_name: "llama-3-70b", base_url: "https://llm.example.com/v1" },
    ]);
  });

  it("both prefixes share one store", async () => {
    const { call } = await start();
    await call("/custom-llm/register", seedRegister("from-seed"));
    await call("/llm-models/register", docsRegister("from-docs"));
    expect((await call("/llm-models/list")).json).toMatchObject({
      count: 2,
      models: [{ model_group_name: "from-docs" }, { model_group_name: "from-seed" }],
    });
    const clash = await call("/llm-models/register", docsRegister("from-seed", { display_name: "unique" }));
    expect(clash.status).toBe(409);
    expect((await call("/llm-models/deregister", { model_group_name: "from-seed" })).status).toBe(200);
    expect((await call("/custom-llm/list")).json).toEqual([
      { model_group_name: "from-docs", model_name: "gpt-4o-mini", base_url: DEFAULT_BASE_URL },
    ]);
  });
});
