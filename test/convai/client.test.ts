import { createHash } from "node:crypto";
import { createServer } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  type ConvaiClientOptions,
  createConvaiClient,
  kindFor,
  parseRetryAfter,
} from "../../src/convai/client.js";
import {
  createSandbox,
  type RecordedRequest,
  type Sandbox,
  type SandboxEndpoint,
} from "../../src/convai/sandbox/index.js";
import {
  API_PREFIXES,
  type ApiPrefix,
  type ConvaiClient,
  type ConvaiFailure,
  type ConvaiResult,
  type ConvaiSuccess,
  DEFAULT_BASE_URL,
  type FailureKind,
  type RegisterInput,
} from "../../src/convai/types.js";
import { createLogger } from "../../src/logger.js";

// Distinctive values, so a leak anywhere is unmistakable.
const KEY = "convai-KEY-5b9d2e7a-TESTONLY";
const WRONG_KEY = "convai-WRONG-81c4f0d3-TESTONLY";
const MODEL_KEY = "sk-MODELKEY-c3f1a9e4-TESTONLY";
const MODEL_KEY_2 = "sk-MODELKEY2-77aa10bb-TESTONLY";
const fingerprint = (key: string) => createHash("sha256").update(key).digest("hex").slice(0, 16);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Harness {
  sandbox: Sandbox;
  url: string;
  client: ConvaiClient;
  /** Every log line the client wrote, at trace level. */
  logs: string[];
  prefix: ApiPrefix;
  /** Requests that reached the sandbox for one endpoint of this prefix. */
  sent(endpoint: SandboxEndpoint): RecordedRequest[];
  /** Another client on the same sandbox (other key, base path, timeout...). */
  clientWith(overrides: Partial<ConvaiClientOptions>): ConvaiClient;
}

async function start(
  prefix: ApiPrefix = "/llm-models",
  overrides: Partial<ConvaiClientOptions> = {},
): Promise<Harness> {
  const sandbox = createSandbox({ apiKey: KEY, record: true });
  const url = await sandbox.listen(0, "127.0.0.1");
  const logs: string[] = [];
  const logger = createLogger({
    level: "trace",
    destination: {
      write: (line: string) => {
        logs.push(line);
      },
    },
  });
  const clients: ConvaiClient[] = [];
  const clientWith = (more: Partial<ConvaiClientOptions>) => {
    const client = createConvaiClient({
      baseUrl: url,
      prefix,
      apiKey: KEY,
      timeoutMs: 5000,
      logger,
      backoffMs: 20,
      ...overrides,
      ...more,
    });
    clients.push(client);
    return client;
  };
  const client = clientWith({});
  cleanups.push(async () => {
    await sandbox.close();
    await Promise.all(clients.map((c) => c.close()));
  });
  return {
    sandbox,
    url,
    client,
    logs,
    prefix,
    clientWith,
    sent: (endpoint) => sandbox.requests.filter((r) => r.path === `${prefix}/${endpoint}`),
  };
}

function expectOk<T>(result: ConvaiResult<T>): ConvaiSuccess<T> {
  if (!result.ok) throw new Error(`expected success, got ${result.kind}: ${result.message}`);
  return result;
}

function expectFailure<T>(result: ConvaiResult<T>, kind: FailureKind): ConvaiFailure {
  if (result.ok) throw new Error(`expected a ${kind} failure, got success`);
  expect(result.kind).toBe(kind);
  return result;
}

function registerInput(prefix: ApiPrefix, group: string, extra: Partial<RegisterInput> = {}): RegisterInput {
  return {
    model_group_name: group,
    model_name: "gpt-4o-mini",
    api_key: MODEL_KEY,
    is_uncensored: false,
    // The seed's form requires base_url.
    ...(prefix === "/custom-llm" ? { base_url: "https://llm.example.com/v1" } : {}),
    ...extra,
  };
}

function only<T>(items: readonly T[]): T {
  expect(items).toHaveLength(1);
  const [item] = items;
  if (item === undefined) throw new Error("expected one item");
  return item;
}

/** The request as it reached the sandbox: POST, JSON, the key header. */
function expectConvaiRequest(request: RecordedRequest, path: string, key = KEY): void {
  expect(request.method).toBe("POST");
  expect(request.path).toBe(path);
  expect(request.headers["convai-api-key"]).toBe(key);
  expect(request.headers["content-type"]).toMatch(/^application\/json/);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - started };
}

/** A port on 127.0.0.1 where nothing listens. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

const seedModel = { model_group_name: "alpha", model_name: "llama-3-70b", api_key: MODEL_KEY_2 };

describe.each(API_PREFIXES)("%s: happy paths", (prefix) => {
  it("register sends the form's fields, always is_uncensored, and the key header", async () => {
    const h = await start(prefix);
    const input = registerInput(prefix, "turbo", {
      display_name: "Turbo (Private)",
      base_url: "https://api.example.com/v1",
      is_uncensored: false,
    });
    const result = expectOk(await h.client.register(input));
    expect(result.status).toBe(200);
    expect(result.transactionID).toMatch(UUID);
    expect(result.data.message).toBe("Model 'turbo' registered successfully");
    expect(result.data.model_group_name).toBe("turbo");

    const request = only(h.sent("register"));
    expectConvaiRequest(request, `${prefix}/register`);
    const expected: Record<string, unknown> = {
      model_group_name: "turbo",
      model_name: "gpt-4o-mini",
      api_key: MODEL_KEY,
      base_url: "https://api.example.com/v1",
      is_uncensored: false,
    };
    // The seed's form has no display_name, so it is never sent there.
    if (prefix === "/llm-models") expected.display_name = "Turbo (Private)";
    expect(request.body).toStrictEqual(expected);
    expect(h.sandbox.models()).toMatchObject([
      {
        model_group_name: "turbo",
        display_name: prefix === "/llm-models" ? "Turbo (Private)" : "turbo",
        base_url: "https://api.example.com/v1",
      },
    ]);
    expect(h.sandbox.keyFingerprint("turbo")).toBe(fingerprint(MODEL_KEY));
    expect(h.sent("list")).toHaveLength(0);
  });

  it("register sends is_uncensored even when false, and nothing that was not given", async () => {
    const h = await start(prefix);
    expectOk(await h.client.register(registerInput(prefix, "plain")));
    expectOk(await h.client.register(registerInput(prefix, "raw", { is_uncensored: true })));
    const [plain, raw] = h.sent("register");
    const expectedKeys =
      prefix === "/llm-models"
        ? ["api_key", "is_uncensored", "model_group_name", "model_name"]
        : ["api_key", "base_url", "is_uncensored", "model_group_name", "model_name"];
    expect(Object.keys(plain?.body ?? {}).sort()).toEqual(expectedKeys);
    expect(plain?.body).toMatchObject({ is_uncensored: false });
    expect(raw?.body).toMatchObject({ is_uncensored: true });
    expect(h.sandbox.models().map((m) => [m.model_group_name, m.is_uncensored])).toEqual([
      ["plain", false],
      ["raw", true],
    ]);
  });

  it("update sends the group plus only the given fields this form allows", async () => {
    const h = await start(prefix);
    await h.sandbox.seed([seedModel]);

    const baseUrl = expectOk(
      await h.client.update({ model_group_name: "alpha", base_url: "https://new.example.com/v1" }),
    );
    expect(baseUrl.data.updated_fields).toEqual(["base_url"]);
    expect(baseUrl.transactionID).toMatch(UUID);

    // is_uncensored: false is a value, not an absence.
    expectOk(await h.client.update({ model_group_name: "alpha", is_uncensored: false, api_key: MODEL_KEY }));

    // Both the form-specific fields are given; only this form's one may go out.
    const mixed = expectOk(
      await h.client.update({
        model_group_name: "alpha",
        display_name: "Alpha",
        model_name: "llama-3.1-70b",
      }),
    );

    const [first, second, third] = h.sent("update");
    if (!first || !second || !third) throw new Error("expected three update requests");
    expectConvaiRequest(first, `${prefix}/update`);
    expect(first.body).toStrictEqual({ model_group_name: "alpha", base_url: "https://new.example.com/v1" });
    expect(second.body).toStrictEqual({
      model_group_name: "alpha",
      is_uncensored: false,
      api_key: MODEL_KEY,
    });
    if (prefix === "/llm-models") {
      expect(third.body).toStrictEqual({ model_group_name: "alpha", display_name: "Alpha" });
      expect(mixed.data.updated_fields).toEqual(["display_name"]);
    } else {
      expect(third.body).toStrictEqual({ model_group_name: "alpha", model_name: "llama-3.1-70b" });
      expect(mixed.data.updated_fields).toEqual(["model_name"]);
    }
    // The seeded key was replaced by the one the second update sent.
    expect(h.sandbox.keyFingerprint("alpha")).toBe(fingerprint(MODEL_KEY));
  });

  it("deregister sends only the group and removes the model", async () => {
    const h = await start(prefix);
    await h.sandbox.seed([seedModel, { ...seedModel, model_group_name: "beta" }]);
    const result = expectOk(await h.client.deregister("alpha"));
    expect(result.data.message).toBe("Model 'alpha' deregistered successfully");
    const request = only(h.sent("deregister"));
    expectConvaiRequest(request, `${prefix}/deregister`);
    expect(request.body).toStrictEqual({ model_group_name: "alpha" });
    expect(h.sandbox.models().map((m) => m.model_group_name)).toEqual(["beta"]);
  });

  it("list reads this form's shape and sends no fields", async () => {
    const h = await start(prefix);
    await h.sandbox.seed([
      { ...seedModel, display_name: "Alpha", base_url: "https://a.example.com/v1", is_uncensored: true },
      { model_group_name: "beta", model_name: "mixtral", api_key: MODEL_KEY },
    ]);
    const result = expectOk(await h.client.list());
    const request = only(h.sent("list"));
    expectConvaiRequest(request, `${prefix}/list`);
    // Convai documents no list body; an empty object is the most the client may send.
    expect(request.rawBody === "" || JSON.stringify(request.body) === "{}").toBe(true);

    if (prefix === "/llm-models") {
      expect(result.transactionID).toMatch(UUID);
      expect(result.data).toEqual([
        expect.objectContaining({
          model_group_name: "alpha",
          model_name: "llama-3-70b",
          display_name: "Alpha",
          base_url: "https://a.example.com/v1",
          is_uncensored: true,
          category: "Private",
        }),
        expect.objectContaining({
          model_group_name: "beta",
          display_name: "beta",
          base_url: DEFAULT_BASE_URL,
        }),
      ]);
    } else {
      // The bare array has three fields and no transactionID.
      expect(result.transactionID).toBeUndefined();
      expect(result.data).toEqual([
        { model_group_name: "alpha", model_name: "llama-3-70b", base_url: "https://a.example.com/v1" },
        { model_group_name: "beta", model_name: "mixtral", base_url: DEFAULT_BASE_URL },
      ]);
    }
    for (const model of result.data) expect(model).not.toHaveProperty("api_key");
  });
});

describe("list shapes", () => {
  const models = [
    {
      model_group_name: "g1",
      model_name: "m1",
      display_name: "G1",
      base_url: "https://a.example.com",
      is_uncensored: false,
      category: "Private",
      created_at: "2025-07-08T09:41:38.123Z",
    },
  ];

  it.each(API_PREFIXES)(
    "%s: accepts the envelope and the bare array whichever form is configured",
    async (prefix) => {
      const h = await start(prefix);
      h.sandbox.inject({
        endpoint: "list",
        fault: {
          kind: "status",
          status: 200,
          body: { status: "success", models, count: 1, transactionID: "tx-env" },
        },
      });
      const envelope = expectOk(await h.client.list());
      expect(envelope.data).toEqual(models);
      expect(envelope.transactionID).toBe("tx-env");

      h.sandbox.inject({ endpoint: "list", fault: { kind: "status", status: 200, body: models } });
      const bare = expectOk(await h.client.list());
      expect(bare.data).toEqual(models);
      expect(bare.transactionID).toBeUndefined();
      expect(h.sent("list")).toHaveLength(2);
    },
  );

  it("null fields are read as absent, and an api_key in the answer is dropped", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "list",
      fault: {
        kind: "status",
        status: 200,
        body: {
          status: "success",
          models: [
            {
              model_group_name: "g1",
              model_name: "m1",
              display_name: null,
              base_url: null,
              is_uncensored: null,
              category: null,
              created_at: null,
              api_key: MODEL_KEY,
            },
          ],
          count: 1,
          transactionID: "tx-nulls",
        },
      },
    });
    const result = expectOk(await h.client.list());
    // Read on the first try, not after a retry that got the sandbox's own (empty) list.
    expect(h.sent("list")).toHaveLength(1);
    expect(result.transactionID).toBe("tx-nulls");
    const model = only(result.data);
    expect(model.model_group_name).toBe("g1");
    expect(model.model_name).toBe("m1");
    for (const field of ["display_name", "base_url", "is_uncensored", "category", "created_at"] as const) {
      expect(model[field]).toBeUndefined();
    }
    expect(JSON.stringify(result)).not.toContain(MODEL_KEY);
  });

  it("an empty list, in either shape, is a success", async () => {
    const h = await start("/custom-llm");
    expect(expectOk(await h.client.list()).data).toEqual([]);
    h.sandbox.inject({ endpoint: "list", fault: { kind: "status", status: 200, body: { models: [] } } });
    expect(expectOk(await h.client.list()).data).toEqual([]);
  });
});

describe.each(API_PREFIXES)("%s: failure kinds from Convai's answers", (prefix) => {
  it("unauthorized: a wrong key reaches Convai as sent and comes back as unauthorized", async () => {
    const h = await start(prefix);
    const wrong = h.clientWith({ apiKey: WRONG_KEY });
    const failure = expectFailure(await wrong.list(), "unauthorized");
    expect(failure.status).toBe(401);
    expect(failure.message).toBe("Unauthorized: missing or invalid CONVAI-API-KEY");
    expect(failure.transactionID).toMatch(UUID);
    expect(failure.ambiguous).toBe(false);
    // Not transient: sent once.
    expectConvaiRequest(only(h.sent("list")), `${prefix}/list`, WRONG_KEY);

    expectFailure(await wrong.register(registerInput(prefix, "g1")), "unauthorized");
    expect(h.sandbox.models()).toEqual([]);
  });

  it("not_found: update and deregister of an unknown group", async () => {
    const h = await start(prefix);
    const update = expectFailure(
      await h.client.update({ model_group_name: "ghost", api_key: MODEL_KEY }),
      "not_found",
    );
    expect(update.status).toBe(404);
    expect(update.message).toBe("Model 'ghost' not found or access denied");
    expect(update.transactionID).toMatch(UUID);
    expect(update.ambiguous).toBe(false);
    const deregister = expectFailure(await h.client.deregister("ghost"), "not_found");
    expect(deregister.message).toBe("Model 'ghost' not found or access denied");
    expect(h.sent("update")).toHaveLength(1);
    expect(h.sent("deregister")).toHaveLength(1);
  });

  it("conflict: a duplicate group name, and a duplicate display name, each named", async () => {
    const h = await start(prefix);
    await h.sandbox.seed([{ ...seedModel, display_name: "Beta Display" }]);

    const group = expectFailure(await h.client.register(registerInput(prefix, "alpha")), "conflict");
    expect(group.status).toBe(409);
    expect(group.field).toBe("model_group_name");
    expect(group.message).toBe("Model group name already exists");
    expect(group.ambiguous).toBe(false);

    // With /custom-llm the display name defaults to the group, so a group equal to a taken display name clashes.
    const clash =
      prefix === "/llm-models"
        ? registerInput(prefix, "gamma", { display_name: "beta display" })
        : registerInput(prefix, "Beta Display");
    const display = expectFailure(await h.client.register(clash), "conflict");
    expect(display.field).toBe("display_name");
    expect(display.message).toBe("Display name already exists");
    expect(h.sent("register")).toHaveLength(2);
    expect(h.sandbox.models().map((m) => m.model_group_name)).toEqual(["alpha"]);
  });

  it("invalid: an update with no field this form accepts is refused by Convai", async () => {
    const h = await start(prefix);
    await h.sandbox.seed([seedModel]);
    // A field the form does not accept is not sent, so nothing is left to update.
    const notForThisForm =
      prefix === "/llm-models" ? { model_name: "other-model" } : { display_name: "Other name" };
    const failure = expectFailure(
      await h.client.update({ model_group_name: "alpha", ...notForThisForm }),
      "invalid",
    );
    expect(failure.status).toBe(400);
    expect(failure.message).toBe("No valid fields to update");
    expect(failure.transactionID).toMatch(UUID);
    expect(only(h.sent("update")).body).toStrictEqual({ model_group_name: "alpha" });
  });

  it("invalid: a field Convai rejects", async () => {
    const h = await start(prefix);
    const failure = expectFailure(
      await h.client.register(registerInput(prefix, "g1", { base_url: "ftp://files.example.com" })),
      "invalid",
    );
    expect(failure.message).toBe("Invalid field: base_url must be an http(s) URL");
    expect(failure.ambiguous).toBe(false);
  });

  it("server: a 500 carries Convai's message and transactionID", async () => {
    const h = await start(prefix);
    h.sandbox.inject({
      endpoint: "register",
      fault: {
        kind: "status",
        status: 500,
        body: { status: "error", message: "Database error", transactionID: "tx-500-abc" },
      },
    });
    const failure = expectFailure(await h.client.register(registerInput(prefix, "g1")), "server");
    expect(failure.status).toBe(500);
    expect(failure.message).toBe("Database error");
    expect(failure.transactionID).toBe("tx-500-abc");
  });
});

describe("other error body shapes", () => {
  it("{ERROR} and {API_ERROR} bodies give their message", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "list",
      fault: { kind: "status", status: 401, body: { ERROR: "The request contains an invalid API key." } },
    });
    const error = expectFailure(await h.client.list(), "unauthorized");
    expect(error.message).toBe("The request contains an invalid API key.");
    expect(error.transactionID).toBeUndefined();

    h.sandbox.inject({
      endpoint: "update",
      fault: { kind: "status", status: 403, body: { API_ERROR: "Invalid API key provided." } },
    });
    const apiError = expectFailure(
      await h.client.update({ model_group_name: "g", api_key: "x" }),
      "unauthorized",
    );
    expect(apiError.message).toBe("Invalid API key provided.");

    h.sandbox.inject({
      endpoint: "register",
      fault: { kind: "status", status: 409, body: { ERROR: "Display name already exists" } },
    });
    const conflict = expectFailure(await h.client.register(registerInput("/llm-models", "g")), "conflict");
    expect(conflict.field).toBe("display_name");
    expect(conflict.message).toBe("Display name already exists");
  });

  it("an {ERROR} body with status 200 is a failure, not a success", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "register",
      fault: { kind: "status", status: 200, body: { ERROR: "Invalid API key provided." } },
    });
    const failure = expectFailure(await h.client.register(registerInput("/llm-models", "g")), "unauthorized");
    expect(failure.message).toBe("Invalid API key provided.");
    expect(failure.status).toBe(200);
    expect(h.sent("register")).toHaveLength(1);
  });

  it("an HTML 502 from a proxy is a server failure with readable text", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "deregister",
      fault: {
        kind: "status",
        status: 502,
        rawBody:
          "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
      },
    });
    const failure = expectFailure(await h.client.deregister("g"), "server");
    expect(failure.status).toBe(502);
    expect(failure.message).toContain("502 Bad Gateway");
    expect(failure.message).not.toMatch(/[<>]/);
    expect(failure.transactionID).toBeUndefined();
    // A mutation is never re-sent.
    expect(h.sent("deregister")).toHaveLength(1);
  });

  it("an empty error body still gives the status", async () => {
    const h = await start();
    h.sandbox.inject({ endpoint: "register", fault: { kind: "status", status: 503, rawBody: "" } });
    const failure = expectFailure(await h.client.register(registerInput("/llm-models", "g")), "server");
    expect(failure.status).toBe(503);
    expect(failure.message).toMatch(/503/);
  });
});

describe("transport failures", () => {
  it("timeout: a hang returns within the deadline plus a small margin", async () => {
    const h = await start("/llm-models", { timeoutMs: 600 });
    h.sandbox.inject({ endpoint: "list", fault: { kind: "hang" } });
    const { value, ms } = await timed(() => h.client.list());
    const failure = expectFailure(value, "timeout");
    expect(ms).toBeGreaterThanOrEqual(550);
    expect(ms).toBeLessThan(1600);
    expect(failure.message).toMatch(/0\.6 s/);
    expect(failure.ambiguous).toBe(false);
  });

  it("network: a closed port is a network failure that certainly applied nothing", async () => {
    const h = await start();
    const port = await closedPort();
    const dead = h.clientWith({ baseUrl: `http://127.0.0.1:${port}` });
    const list = expectFailure(await dead.list(), "network");
    expect(list.ambiguous).toBe(false);
    expect(list.message).toContain(`127.0.0.1:${port}`);
    const register = expectFailure(await dead.register(registerInput("/llm-models", "g")), "network");
    expect(register.ambiguous).toBe(false);
  });

  it("network: a reset list is retried, a reset that persists is reported", async () => {
    const h = await start();
    h.sandbox.inject({ endpoint: "list", fault: { kind: "reset" } });
    expectOk(await h.client.list());
    expect(h.sent("list")).toHaveLength(2);

    h.sandbox.inject({ endpoint: "list", times: Number.POSITIVE_INFINITY, fault: { kind: "reset" } });
    const failure = expectFailure(await h.client.list(), "network");
    expect(failure.ambiguous).toBe(false);
    const tries = h.sent("list").length - 2;
    expect(tries).toBeGreaterThan(1);
    expect(tries).toBeLessThanOrEqual(4);
  });

  it("malformed: a 200 list that is not JSON, or cut short, or the wrong shape", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "list",
      times: Number.POSITIVE_INFINITY,
      fault: { kind: "status", status: 200, rawBody: "<html>Service maintenance</html>" },
    });
    const html = expectFailure(await h.client.list(), "malformed");
    expect(html.status).toBe(200);
    expect(html.ambiguous).toBe(false);

    h.sandbox.clearFaults();
    h.sandbox.inject({ endpoint: "list", times: Number.POSITIVE_INFINITY, fault: { kind: "malformed" } });
    expectFailure(await h.client.list(), "malformed");

    h.sandbox.clearFaults();
    h.sandbox.inject({
      endpoint: "list",
      times: Number.POSITIVE_INFINITY,
      fault: { kind: "status", status: 200, body: { status: "success", models: "none" } },
    });
    expectFailure(await h.client.list(), "malformed");
    h.sandbox.clearFaults();
    h.sandbox.inject({
      endpoint: "list",
      times: Number.POSITIVE_INFINITY,
      fault: { kind: "status", status: 200, body: [{ model_group_name: "no-model-name" }] },
    });
    expectFailure(await h.client.list(), "malformed");
  });
});

describe("ambiguity: a mutation is never blindly re-sent", () => {
  it("register that hangs: timeout, ambiguous, sent exactly once", async () => {
    const h = await start("/llm-models", { timeoutMs: 600 });
    h.sandbox.inject({ endpoint: "register", fault: { kind: "hang" } });
    const { value, ms } = await timed(() => h.client.register(registerInput("/llm-models", "g1")));
    const failure = expectFailure(value, "timeout");
    expect(failure.ambiguous).toBe(true);
    expect(ms).toBeLessThan(1600);
    expect(h.sent("register")).toHaveLength(1);
    expect(h.sandbox.requests).toHaveLength(1);
  });

  it("register applied then reset: network, ambiguous, sent once, and it did take effect", async () => {
    const h = await start();
    h.sandbox.inject({ endpoint: "register", fault: { kind: "apply-then-reset" } });
    const failure = expectFailure(await h.client.register(registerInput("/llm-models", "g1")), "network");
    expect(failure.ambiguous).toBe(true);
    expect(h.sent("register")).toHaveLength(1);
    expect(h.sandbox.models().map((m) => m.model_group_name)).toEqual(["g1"]);
  });

  it("update applied then hung: timeout, ambiguous, sent once", async () => {
    const h = await start("/llm-models", { timeoutMs: 600 });
    await h.sandbox.seed([seedModel]);
    h.sandbox.inject({ endpoint: "update", fault: { kind: "apply-then-hang" } });
    const failure = expectFailure(
      await h.client.update({ model_group_name: "alpha", base_url: "https://b.example.com/v1" }),
      "timeout",
    );
    expect(failure.ambiguous).toBe(true);
    expect(h.sent("update")).toHaveLength(1);
    expect(h.sandbox.models()[0]?.base_url).toBe("https://b.example.com/v1");
  });

  it("deregister reset before applying: ambiguous (the client cannot know), sent once, nothing changed", async () => {
    const h = await start();
    await h.sandbox.seed([seedModel]);
    h.sandbox.inject({ endpoint: "deregister", fault: { kind: "reset" } });
    const failure = expectFailure(await h.client.deregister("alpha"), "network");
    expect(failure.ambiguous).toBe(true);
    expect(h.sent("deregister")).toHaveLength(1);
    expect(h.sandbox.models()).toHaveLength(1);
  });

  it.each(["register", "update", "deregister"] as const)("%s after a 500 is not retried", async (op) => {
    const h = await start();
    await h.sandbox.seed([seedModel]);
    h.sandbox.inject({ endpoint: op, fault: { kind: "status", status: 500 } });
    const result =
      op === "register"
        ? await h.client.register(registerInput("/llm-models", "new-group"))
        : op === "update"
          ? await h.client.update({ model_group_name: "alpha", base_url: "https://c.example.com/v1" })
          : await h.client.deregister("alpha");
    const failure = expectFailure(result, "server");
    expect(failure.message).toBe("Internal Server Error");
    expect(failure.transactionID).toMatch(UUID);
    expect(h.sent(op)).toHaveLength(1);
    expect(h.sandbox.requests).toHaveLength(1);
    expect(h.sandbox.models()).toMatchObject([{ model_group_name: "alpha", base_url: DEFAULT_BASE_URL }]);
  });
});

describe("retries", () => {
  it("list: one 500 then success is retried and succeeds (2 requests)", async () => {
    const h = await start();
    await h.sandbox.seed([seedModel]);
    h.sandbox.inject({ endpoint: "list", fault: { kind: "status", status: 500 } });
    const result = expectOk(await h.client.list());
    expect(result.data.map((m) => m.model_group_name)).toEqual(["alpha"]);
    expect(h.sent("list")).toHaveLength(2);
  });

  it("list: retries are bounded and stay inside the deadline", async () => {
    const h = await start("/llm-models", { timeoutMs: 3000 });
    h.sandbox.inject({
      endpoint: "list",
      times: Number.POSITIVE_INFINITY,
      fault: { kind: "status", status: 500 },
    });
    const { value, ms } = await timed(() => h.client.list());
    expectFailure(value, "server");
    const sent = h.sent("list").length;
    expect(sent).toBeGreaterThan(1);
    expect(sent).toBeLessThanOrEqual(4);
    expect(ms).toBeLessThan(3000);
  });

  it("list: no backoff is started that would end past the deadline", async () => {
    const h = await start("/llm-models", { timeoutMs: 1000, backoffMs: 5000 });
    h.sandbox.inject({
      endpoint: "list",
      times: Number.POSITIVE_INFINITY,
      fault: { kind: "status", status: 500 },
    });
    const { value, ms } = await timed(() => h.client.list());
    expectFailure(value, "server");
    // The bug this catches waits out a 5 s backoff; the margin absorbs a busy machine.
    expect(ms).toBeLessThan(2500);
    expect(h.sent("list")).toHaveLength(1);
  });

  it("429 with Retry-After: 0.2 is retried after the wait and succeeds (2 requests)", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "list",
      fault: { kind: "status", status: 429, headers: { "Retry-After": "0.2" } },
    });
    const { value, ms } = await timed(() => h.client.list());
    expectOk(value);
    expect(h.sent("list")).toHaveLength(2);
    expect(ms).toBeGreaterThanOrEqual(180);
    expect(ms).toBeLessThan(2000);
  });

  it("429 on register is retried too (it applied nothing) and registers once", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "register",
      fault: { kind: "status", status: 429, headers: { "Retry-After": "0.1" } },
    });
    expectOk(await h.client.register(registerInput("/llm-models", "g1")));
    expect(h.sent("register")).toHaveLength(2);
    expect(h.sandbox.models()).toHaveLength(1);
  });

  it("429 with Retry-After past the deadline: rate_limited at once, with retryAfterMs", async () => {
    const h = await start("/llm-models", { timeoutMs: 2000 });
    h.sandbox.inject({
      endpoint: "list",
      fault: { kind: "status", status: 429, headers: { "Retry-After": "30" } },
    });
    const { value, ms } = await timed(() => h.client.list());
    const failure = expectFailure(value, "rate_limited");
    expect(failure.retryAfterMs).toBe(30_000);
    expect(failure.status).toBe(429);
    expect(failure.ambiguous).toBe(false);
    // Waiting would take 30 s; anything near the deadline (2 s) means it waited.
    expect(ms).toBeLessThan(1500);
    expect(h.sent("list")).toHaveLength(1);
  });

  it("429 that keeps coming is reported after a bounded number of tries", async () => {
    const h = await start("/llm-models", { timeoutMs: 3000 });
    h.sandbox.inject({
      endpoint: "deregister",
      times: Number.POSITIVE_INFINITY,
      fault: { kind: "status", status: 429, headers: { "Retry-After": "0.05" } },
    });
    const failure = expectFailure(await h.client.deregister("g"), "rate_limited");
    expect(failure.retryAfterMs).toBe(50);
    const sent = h.sent("deregister").length;
    expect(sent).toBeGreaterThan(1);
    expect(sent).toBeLessThanOrEqual(5);
  });
});

describe("connections", () => {
  it("100 concurrent list() calls all succeed over the pool's 32 connections at most", async () => {
    const h = await start();
    await h.sandbox.seed([seedModel]);
    const results = await Promise.all(Array.from({ length: 100 }, () => h.client.list()));
    for (const result of results) expect(expectOk(result).data).toHaveLength(1);
    expect(h.sent("list")).toHaveLength(100);
    expect(h.sandbox.connectionCount).toBeGreaterThan(0);
    // One keep-alive pool: bounded by its size, never one connection per call.
    expect(h.sandbox.connectionCount).toBeLessThanOrEqual(32);
    // A second wave reuses the kept-alive connections.
    const before = h.sandbox.connectionCount;
    await Promise.all(Array.from({ length: 20 }, () => h.client.list()));
    expect(h.sandbox.connectionCount).toBe(before);
  });
});

describe("secrets", () => {
  // Issue 16 item 5: an error body echoing the request JSON-escaped or URL-encoded.
  it("a model key echoed JSON-escaped or URL-encoded is scrubbed from the failure", async () => {
    const h = await start("/llm-models", { timeoutMs: 600 });
    const key = 'sk-"quoted\\key/with space-0042';
    const echoes = [
      JSON.stringify({ api_key: key }),
      encodeURIComponent(key),
      `api_key=${encodeURIComponent(key).replace(/%20/g, "+")}`,
    ];
    for (const echo of echoes) {
      h.sandbox.inject({
        endpoint: "register",
        fault: { kind: "status", status: 400, body: { status: "error", message: `Bad request ${echo}` } },
      });
      const result = await h.client.register({ ...registerInput("/llm-models", "g1"), api_key: key });
      expect(result.ok).toBe(false);
      const message = result.ok ? "" : result.message;
      expect(message).toContain("[redacted]");
      expect(message).not.toContain("quoted");
    }
  });

  it("the Convai key and the model keys never appear in a failure message or a log line", async () => {
    const h = await start("/llm-models", { timeoutMs: 600 });
    const failures: ConvaiFailure[] = [];
    const collect = <T>(result: ConvaiResult<T>) => {
      if (!result.ok) failures.push(result);
    };
    // Servers that echo what they were sent.
    h.sandbox.inject({
      endpoint: "register",
      fault: {
        kind: "status",
        status: 400,
        body: { status: "error", message: `Bad api_key '${MODEL_KEY}'` },
      },
    });
    collect(await h.client.register(registerInput("/llm-models", "g1")));
    h.sandbox.inject({
      endpoint: "list",
      times: Number.POSITIVE_INFINITY,
      fault: { kind: "status", status: 401, body: { ERROR: `Key ${KEY} was revoked` } },
    });
    collect(await h.client.list());
    h.sandbox.clearFaults();
    h.sandbox.inject({
      endpoint: "update",
      fault: { kind: "status", status: 502, rawBody: `<html><body>upstream rejected ${KEY}</body></html>` },
    });
    collect(await h.client.update({ model_group_name: "g1", api_key: MODEL_KEY }));
    h.sandbox.inject({ endpoint: "update", fault: { kind: "hang" } });
    collect(await h.client.update({ model_group_name: "g1", api_key: MODEL_KEY }));
    h.sandbox.inject({ endpoint: "register", fault: { kind: "apply-then-reset" } });
    collect(await h.client.register(registerInput("/llm-models", "g2")));
    collect(await h.clientWith({ apiKey: WRONG_KEY }).list());
    collect(await h.clientWith({ baseUrl: `http://127.0.0.1:${await closedPort()}` }).list());

    expect(failures).toHaveLength(7);
    const echoed = failures.slice(0, 3).map((f) => f.message);
    for (const message of echoed) expect(message).toContain("[redacted]");
    const everything = [JSON.stringify(failures), ...failures.map((f) => f.message), ...h.logs].join("\n");
    expect(h.logs.length).toBeGreaterThanOrEqual(7);
    for (const secret of [KEY, WRONG_KEY, MODEL_KEY]) {
      expect(everything).not.toContain(secret);
      // Not even a recognisable piece of it.
      expect(everything).not.toContain(secret.slice(0, 14));
    }
    // The sandbox did receive the keys: the check above is about what came back, not what was sent.
    expect(h.sandbox.requests.some((r) => r.headers["convai-api-key"] === KEY)).toBe(true);
  });

  it("a model key echoed JSON-escaped or URL-encoded in an error body is removed too", async () => {
    const h = await start();
    const odd = 'sk-"quoted"\\key/with space-TESTONLY';
    const jsonForm = JSON.stringify(odd).slice(1, -1);
    h.sandbox.inject({
      endpoint: "register",
      fault: {
        kind: "status",
        status: 400,
        rawBody: `{"status":"error","message":"bad ${jsonForm} / ${encodeURIComponent(odd)}"}`,
      },
    });
    const failure = expectFailure(
      await h.client.register(registerInput("/llm-models", "g1", { api_key: odd })),
      "invalid",
    );
    expect(failure.message).toBe("bad [redacted] / [redacted]");
    expect(h.logs.join("\n")).not.toContain("quoted");
  });

  it("a key echoed across the 200-character cut of a non-JSON body does not leak its start", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "register",
      fault: { kind: "status", status: 500, rawBody: `${"x".repeat(190)}${KEY}` },
    });
    const failure = expectFailure(await h.client.register(registerInput("/llm-models", "g1")), "server");
    expect(failure.message).not.toContain(KEY.slice(0, 8));
  });
});

describe("success bodies", () => {
  it("a register answer with null fields is a success, not malformed", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "register",
      fault: {
        kind: "status",
        status: 200,
        body: { status: "success", message: null, display_name: null, transactionID: "tx-null" },
      },
    });
    const result = expectOk(await h.client.register(registerInput("/llm-models", "g1")));
    expect(result.transactionID).toBe("tx-null");
  });

  it("a list envelope with transactionID: null is read, not retried as malformed", async () => {
    const h = await start();
    h.sandbox.inject({
      endpoint: "list",
      times: Number.POSITIVE_INFINITY,
      fault: {
        kind: "status",
        status: 200,
        body: {
          status: "success",
          models: [{ model_group_name: "g", model_name: "m" }],
          transactionID: null,
        },
      },
    });
    expect(expectOk(await h.client.list()).data).toHaveLength(1);
  });

  it("a /custom-llm mutation answered 200 with an undescribed body is a success", async () => {
    const h = await start("/custom-llm");
    h.sandbox.inject({ endpoint: "deregister", fault: { kind: "status", status: 200, rawBody: "OK" } });
    expectOk(await h.client.deregister("g1"));
  });

  it("a 2xx mutation whose body cannot be read is reported as malformed and ambiguous", async () => {
    const h = await start();
    h.sandbox.inject({ endpoint: "update", fault: { kind: "malformed" } });
    const failure = expectFailure(
      await h.client.update({ model_group_name: "g", api_key: "k" }),
      "malformed",
    );
    expect(failure.ambiguous).toBe(true);
    expect(h.sent("update")).toHaveLength(1);
  });
});

describe("base URL with a path", () => {
  it.each(["/gateway", "/gateway/"])("%s is kept in front of the prefix", async (suffix) => {
    const h = await start();
    const gateway = h.clientWith({ baseUrl: `${h.url}${suffix}` });
    const failure = expectFailure(await gateway.list(), "not_found");
    expect(failure.status).toBe(404);
    expect(failure.message).toBe("Not found");
    expectConvaiRequest(only(h.sandbox.requests), "/gateway/llm-models/list");
  });
});

describe("exported helpers", () => {
  it("parseRetryAfter reads seconds and HTTP dates", () => {
    const now = Date.parse("2025-07-08T09:00:00Z");
    expect(parseRetryAfter("0.2", now)).toBe(200);
    expect(parseRetryAfter("5", now)).toBe(5000);
    expect(parseRetryAfter(" 2 ", now)).toBe(2000);
    expect(parseRetryAfter(["3", "9"], now)).toBe(3000);
    expect(parseRetryAfter("Tue, 08 Jul 2025 09:00:10 GMT", now)).toBe(10_000);
    expect(parseRetryAfter("Tue, 08 Jul 2025 08:59:00 GMT", now)).toBe(0);
    for (const bad of [undefined, "", "soon", []]) expect(parseRetryAfter(bad, now)).toBeUndefined();
  });

  it("parseRetryAfter refuses '-1' (V8's lenient Date.parse would take it for a date)", () => {
    expect(parseRetryAfter("-1")).toBeUndefined();
  });

  it("kindFor maps statuses, and reads the words of an error sent with 2xx", () => {
    expect(kindFor(401, "")).toBe("unauthorized");
    expect(kindFor(403, "")).toBe("unauthorized");
    expect(kindFor(404, "")).toBe("not_found");
    expect(kindFor(409, "")).toBe("conflict");
    expect(kindFor(429, "")).toBe("rate_limited");
    expect(kindFor(400, "")).toBe("invalid");
    expect(kindFor(422, "")).toBe("invalid");
    expect(kindFor(500, "")).toBe("server");
    expect(kindFor(503, "")).toBe("server");
    expect(kindFor(200, "Invalid API key provided.")).toBe("unauthorized");
    expect(kindFor(200, "Model 'x' not found or access denied")).toBe("not_found");
    expect(kindFor(200, "Model group name already exists")).toBe("conflict");
    expect(kindFor(200, "Database error")).toBe("server");
  });
});
