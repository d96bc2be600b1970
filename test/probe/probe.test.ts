import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { request } from "undici";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createPinnedAgent, type LookupFn, resolvePublicAddress } from "../../src/probe/guard.js";
import { normaliseBaseUrl, type ProbeInput, type ProbeResult, probeEndpoint } from "../../src/probe/probe.js";

const KEY = "sk-test-SECRET-0123456789abcdef";
const MODEL = "llama-3-8b";

interface Seen {
  method: string;
  path: string;
  query: string;
  headers: IncomingHttpHeaders;
  body: string;
}
type Handler = (req: Seen, res: ServerResponse) => void;

/** A fake OpenAI-compatible server whose answer per "METHOD path" each test sets. */
class FakeServer {
  readonly seen: Seen[] = [];
  private routes = new Map<string, Handler>();
  private server: Server = createServer((req, res) => this.handle(req, res));
  port = 0;

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.port = portOf(this.server);
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  reset(): void {
    this.seen.length = 0;
    this.routes.clear();
    this.server.closeAllConnections();
    this.on("GET /v1/models", json(200, { object: "list", data: [{ id: MODEL, object: "model" }] }));
    this.on("POST /v1/chat/completions", json(200, completion()));
  }

  on(route: string, handler: Handler): void {
    this.routes.set(route, handler);
  }

  requestsTo(path: string): Seen[] {
    return this.seen.filter((s) => s.path === path);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake");
      const path = url.pathname;
      const seen: Seen = {
        method: req.method ?? "",
        path,
        query: url.search,
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
      };
      this.seen.push(seen);
      const handler = this.routes.get(`${seen.method} ${path}`);
      if (handler) handler(seen, res);
      else json(404, { detail: "Not Found" })(seen, res);
    });
  }
}

function portOf(listening: Server): number {
  const address = listening.address();
  if (address === null || typeof address === "string") throw new Error("server is not listening on TCP");
  return address.port;
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Handler {
  return (_req, res) => {
    res.writeHead(status, { "content-type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
}

function text(status: number, body: string, contentType = "text/plain"): Handler {
  return (_req, res) => {
    res.writeHead(status, { "content-type": contentType });
    res.end(body);
  };
}

function completion(): unknown {
  return {
    id: "chatcmpl-1",
    object: "chat.completion",
    model: MODEL,
    choices: [{ index: 0, message: { role: "assistant", content: "p" }, finish_reason: "length" }],
  };
}

const HTML = "<!DOCTYPE html><html><body><h1>Welcome</h1></body></html>";

const server = new FakeServer();

beforeAll(async () => {
  await server.start();
});
afterAll(async () => {
  await server.stop();
});
afterEach(() => {
  server.reset();
});

function probe(overrides: Partial<ProbeInput> = {}): Promise<ProbeResult> {
  return probeEndpoint({
    baseUrl: `${server.base}/v1`,
    apiKey: KEY,
    modelName: MODEL,
    allowPrivate: true,
    timeoutMs: 3_000,
    ...overrides,
  });
}

function expectFailure(result: ProbeResult, field: "base_url" | "api_key" | "model_name"): string {
  if (result.ok) throw new Error(`expected a ${field} failure, got ok: ${JSON.stringify(result)}`);
  expect(result.field).toBe(field);
  return result.message;
}

function expectOk(result: ProbeResult): string[] {
  if (!result.ok) throw new Error(`expected ok, got ${result.field}: ${result.message}`);
  return result.notes;
}

function parsedBody(seen: Seen | undefined): Record<string, unknown> {
  const value: unknown = JSON.parse(seen?.body ?? "null");
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Error("body is not an object");
  return Object.fromEntries(Object.entries(value));
}

/** A lookup that fails the test if the probe resolves a name it should never have resolved. */
const noDns: LookupFn = async (hostname) => {
  throw new Error(`unexpected DNS lookup for ${hostname}`);
};

server.reset();

describe("normaliseBaseUrl", () => {
  it.each([
    ["  https://api.example.com/v1  ", "https://api.example.com/v1"],
    ["https://api.example.com/v1/", "https://api.example.com/v1"],
    ["https://api.example.com/v1//", "https://api.example.com/v1"],
    ["https://api.example.com/v1/chat/completions", "https://api.example.com/v1"],
    ["https://api.example.com/v1/chat/completions/", "https://api.example.com/v1"],
    ["https://api.example.com/v1/completions", "https://api.example.com/v1"],
    ["https://api.example.com/v1/models", "https://api.example.com/v1"],
    ["https://api.example.com/v1/Chat/Completions", "https://api.example.com/v1"],
    ["https://api.example.com", "https://api.example.com"],
    ["https://api.example.com/", "https://api.example.com"],
    [
      "https://x.azure.com/openai/v1/chat/completions?api-version=1",
      "https://x.azure.com/openai/v1?api-version=1",
    ],
    ["https://x.azure.com/openai/v1/?api-version=1", "https://x.azure.com/openai/v1?api-version=1"],
    [
      "https://x.openai.azure.com/openai/deployments/gpt4o",
      "https://x.openai.azure.com/openai/deployments/gpt4o",
    ],
    ["HTTPS://API.Example.com:443/v1/./x/../", "https://api.example.com/v1"],
    ["https://api.example.com/v1/chat/completions/models", "https://api.example.com/v1/chat/completions"],
  ])("%j → %j", (raw, expected) => {
    expect(normaliseBaseUrl(raw)).toBe(expected);
  });
});

describe("probeEndpoint: answers", () => {
  it("passes a working endpoint, recording both steps", async () => {
    const result = await probe();
    expect(expectOk(result)).toEqual([]);
    expect(result.steps).toEqual([
      { method: "GET", url: `${server.base}/v1/models`, status: 200, latencyMs: expect.any(Number) },
      {
        method: "POST",
        url: `${server.base}/v1/chat/completions`,
        status: 200,
        latencyMs: expect.any(Number),
      },
    ]);
    const [models, chat] = server.seen;
    expect(models?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(chat?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(chat?.headers["content-type"]).toBe("application/json");
    expect(parsedBody(chat)).toEqual({
      model: MODEL,
      messages: [{ role: "user", content: "ping" }],
      max_tokens: 1,
    });
  });

  it("probes the base it is given, never normalised a second time (the caller saves that same URL)", async () => {
    await probe({ baseUrl: ` ${server.base}/v1/chat/completions ` });
    expect(server.seen.map((s) => s.path)[0]).toBe("/v1/chat/completions/models");
  });

  it("keeps a query string on both requests but leaves it out of the step URLs", async () => {
    const result = await probe({ baseUrl: `${server.base}/v1?api-version=2024-10-21` });
    expectOk(result);
    expect(server.seen.map((s) => `${s.path}${s.query}`)).toEqual([
      "/v1/models?api-version=2024-10-21",
      "/v1/chat/completions?api-version=2024-10-21",
    ]);
    expect(result.steps.map((s) => s.url)).toEqual([
      `${server.base}/v1/models`,
      `${server.base}/v1/chat/completions`,
    ]);
  });

  it("notes a /models answer that is not a model list", async () => {
    server.on("GET /v1/models", json(200, { models: "yes" }));
    expect(expectOk(await probe())).toEqual(["GET /models answered 200 but not with a model list"]);
  });

  it("only notes a model missing from /models (servers may list partially)", async () => {
    server.on("GET /v1/models", json(200, { data: [{ id: "other-model" }] }));
    const notes = expectOk(await probe());
    expect(notes).toEqual([
      `the model list does not include "${MODEL}" (some servers list only part of their models)`,
    ]);
  });

  it("passes when /models is missing but chat works", async () => {
    server.on("GET /v1/models", json(404, { detail: "Not Found" }));
    expect(expectOk(await probe())).toEqual([]);
  });

  it("maps 401 on /models to api_key without calling chat", async () => {
    server.on(
      "GET /v1/models",
      json(401, { error: { message: "Invalid API key", code: "invalid_api_key" } }),
    );
    const message = expectFailure(await probe(), "api_key");
    expect(message).toBe("the endpoint refused the key (401): Invalid API key");
    expect(server.requestsTo("/v1/chat/completions")).toHaveLength(0);
  });

  it("maps 403 on chat to api_key", async () => {
    server.on("POST /v1/chat/completions", json(403, { error: "forbidden" }));
    expect(expectFailure(await probe(), "api_key")).toBe("the endpoint refused the key (403): forbidden");
  });

  it("maps an OpenAI model_not_found 404 to model_name", async () => {
    server.on(
      "POST /v1/chat/completions",
      json(404, {
        error: {
          message: `The model \`${MODEL}\` does not exist or you do not have access to it.`,
          type: "invalid_request_error",
          code: "model_not_found",
        },
      }),
    );
    const message = expectFailure(await probe(), "model_name");
    expect(message).toBe(
      `the endpoint does not know the model "${MODEL}": The model \`${MODEL}\` does not exist or you do not have access to it.`,
    );
  });

  it("maps a vLLM-style 'does not exist' 404 to model_name", async () => {
    server.on(
      "POST /v1/chat/completions",
      json(404, {
        object: "error",
        message: `The model \`${MODEL}\` does not exist.`,
        type: "NotFoundError",
      }),
    );
    expect(expectFailure(await probe(), "model_name")).toContain(`does not know the model "${MODEL}"`);
  });

  it("maps an Ollama-style 'not found' 404 to model_name", async () => {
    server.on("POST /v1/chat/completions", json(404, { error: { message: `model "${MODEL}" not found` } }));
    expect(expectFailure(await probe(), "model_name")).toContain(`model "${MODEL}" not found`);
  });

  it("maps a bare 404 on chat to model_name when /models lists other models", async () => {
    server.on("GET /v1/models", json(200, { data: [{ id: "other" }] }));
    server.on("POST /v1/chat/completions", text(404, ""));
    expect(expectFailure(await probe(), "model_name")).toBe(
      `the endpoint does not serve the model "${MODEL}"`,
    );
  });

  it("maps 404 on both paths to base_url and suggests /v1 when the path lacks it", async () => {
    const message = expectFailure(await probe({ baseUrl: server.base }), "base_url");
    expect(message).toBe(
      "GET /models and POST /chat/completions both answered 404, so it is not an OpenAI-compatible API; " +
        `did you mean ${server.base}/v1?`,
    );
  });

  it("does not suggest /v1 when the path already has it", async () => {
    server.on("GET /v1/models", json(404, { detail: "Not Found" }));
    server.on("POST /v1/chat/completions", json(404, { detail: "Not Found" }));
    const message = expectFailure(await probe(), "base_url");
    expect(message).toBe(
      "GET /models and POST /chat/completions both answered 404, so it is not an OpenAI-compatible API",
    );
  });

  it("maps HTML answers to base_url", async () => {
    server.on("GET /models", text(200, HTML, "text/html"));
    server.on("POST /chat/completions", text(200, HTML, "text/html"));
    const message = expectFailure(await probe({ baseUrl: server.base }), "base_url");
    expect(message).toBe(
      "POST /chat/completions answered with an HTML page, so it is not an OpenAI-compatible API; " +
        `did you mean ${server.base}/v1?`,
    );
  });

  it("maps a 200 that is not JSON to base_url", async () => {
    server.on("POST /v1/chat/completions", text(200, "OK"));
    expect(expectFailure(await probe(), "base_url")).toBe(
      "POST /chat/completions answered 200 without a chat completion, so it is not an OpenAI-compatible API",
    );
  });

  it("treats 429 as reachable and authenticated, with a note", async () => {
    server.on("POST /v1/chat/completions", json(429, { error: { message: "Rate limit reached" } }));
    const notes = expectOk(await probe());
    expect(notes).toEqual(["reachable and authenticated, but rate limited (429); the model was not tested"]);
  });

  it("maps 402 (the key's account cannot pay) to api_key", async () => {
    server.on("POST /v1/chat/completions", json(402, { error: { message: "Insufficient credits" } }));
    expect(expectFailure(await probe(), "api_key")).toBe(
      "the key's account cannot pay for requests (402): Insufficient credits",
    );
  });

  it("maps 5xx to base_url", async () => {
    server.on("POST /v1/chat/completions", json(503, { error: { message: "upstream unavailable" } }));
    expect(expectFailure(await probe(), "base_url")).toBe("the endpoint answered 503: upstream unavailable");
  });

  it("maps any other 400 to model_name with the endpoint's words", async () => {
    server.on("POST /v1/chat/completions", json(400, { error: { message: `${MODEL} is not a chat model` } }));
    expect(expectFailure(await probe(), "model_name")).toBe(
      `the endpoint rejected a test chat request for the model "${MODEL}" (400): ${MODEL} is not a chat model`,
    );
  });

  it("retries once with max_completion_tokens when max_tokens is rejected", async () => {
    let calls = 0;
    server.on("POST /v1/chat/completions", (req, res) => {
      calls++;
      if (calls === 1) {
        json(400, {
          error: {
            message: "Unsupported parameter: 'max_tokens' is not supported with this model.",
            param: "max_tokens",
            code: "unsupported_parameter",
          },
        })(req, res);
      } else json(200, completion())(req, res);
    });
    const notes = expectOk(await probe());
    expect(notes).toEqual(["the endpoint rejects max_tokens; max_completion_tokens worked"]);
    const chats = server.requestsTo("/v1/chat/completions").map(parsedBody);
    expect(chats).toHaveLength(2);
    expect(chats[0]).toMatchObject({ max_tokens: 1 });
    expect(chats[0]).not.toHaveProperty("max_completion_tokens");
    expect(chats[1]).toMatchObject({ max_completion_tokens: 1 });
    expect(chats[1]).not.toHaveProperty("max_tokens");
  });

  it("retries once more without a cap when both token parameters are rejected", async () => {
    server.on("POST /v1/chat/completions", (req, res) => {
      const body = parsedBody(req);
      if ("max_tokens" in body || "max_completion_tokens" in body) {
        json(400, { error: { message: "max_tokens and max_completion_tokens are not supported" } })(req, res);
      } else json(200, completion())(req, res);
    });
    expectOk(await probe());
    const chats = server.requestsTo("/v1/chat/completions").map(parsedBody);
    expect(chats.map((b) => Object.keys(b).sort())).toEqual([
      ["max_tokens", "messages", "model"],
      ["max_completion_tokens", "messages", "model"],
      ["messages", "model"],
    ]);
  });

  it("stops after three chat requests when every one is rejected for tokens", async () => {
    server.on("POST /v1/chat/completions", json(400, { error: { message: "max_tokens is invalid" } }));
    expectFailure(await probe(), "model_name");
    expect(server.requestsTo("/v1/chat/completions")).toHaveLength(3);
  });

  it("follows no redirect and names the target without its query string", async () => {
    server.on("GET /v1/models", (_req, res) => {
      res.writeHead(302, { location: `${server.base}/elsewhere/v1/models?sig=abc123` });
      res.end();
    });
    const message = expectFailure(await probe(), "base_url");
    expect(message).toBe(
      `the endpoint redirected (302) to ${server.base}/elsewhere/v1/models; redirects are not followed, use the final URL`,
    );
    expect(message).not.toContain("sig=");
    expect(server.seen.filter((s) => s.path.startsWith("/elsewhere"))).toHaveLength(0);
  });

  it("reads at most maxBodyBytes of a huge body and stops the transfer", async () => {
    let written = 0;
    server.on("GET /v1/models", (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      const chunk = Buffer.alloc(64 * 1024, "a");
      let closed = false;
      res.on("close", () => {
        closed = true;
      });
      // Endless body: writes until the client goes away.
      const pump = (): void => {
        while (!closed && written < 1024 * 1024 * 1024) {
          written += chunk.length;
          if (!res.write(chunk)) {
            res.once("drain", pump);
            return;
          }
        }
      };
      pump();
    });
    const started = Date.now();
    const result = await probe({ maxBodyBytes: 16 * 1024 });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(result.steps[0]?.note).toBe("body cut at 16384 bytes");
    expect(expectOk(result)).toEqual([
      "the model list is too large to read, so it was not checked for the model",
    ]);
    // Socket buffers hold a few MB at most; a body read to the end would be the whole gigabyte.
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it("bounds the whole probe by timeoutMs", async () => {
    server.on("GET /v1/models", () => {
      // Never answers.
    });
    const started = Date.now();
    const result = await probe({ timeoutMs: 500 });
    const elapsed = Date.now() - started;
    expect(expectFailure(result, "base_url")).toBe(`127.0.0.1:${server.port} did not answer within 0.5s`);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(1_500);
    expect(result.steps[0]).toMatchObject({ method: "GET", note: "timed out" });
    expect(result.steps[0]?.status).toBeUndefined();
  });

  it("bounds a slow body too, not only slow headers", async () => {
    server.on("GET /v1/models", (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"data":[');
    });
    const started = Date.now();
    const result = await probe({ timeoutMs: 500 });
    expect(expectFailure(result, "base_url")).toContain("did not answer within 0.5s");
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it("maps connection refused to base_url in plain words", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = portOf(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const message = expectFailure(await probe({ baseUrl: `http://127.0.0.1:${port}/v1` }), "base_url");
    expect(message).toBe(`could not connect to 127.0.0.1:${port}: connection refused (ECONNREFUSED)`);
  });

  it("maps a TLS failure to base_url", async () => {
    const message = expectFailure(
      await probe({ baseUrl: `https://127.0.0.1:${server.port}/v1` }),
      "base_url",
    );
    expect(message).toMatch(new RegExp(`^could not connect to 127\\.0\\.0\\.1:${server.port}: .*TLS`));
  });

  it("maps a DNS failure to base_url", async () => {
    const lookup: LookupFn = async () => {
      throw Object.assign(new Error("getaddrinfo ENOTFOUND api.example.com"), { code: "ENOTFOUND" });
    };
    const message = expectFailure(
      await probe({ baseUrl: "https://api.example.com/v1", allowPrivate: false, lookup }),
      "base_url",
    );
    expect(message).toBe("could not resolve api.example.com (no such host)");
  });

  it("refuses a URL that is not http(s) or carries credentials, before any request", async () => {
    expect(expectFailure(await probe({ baseUrl: "ftp://example.com/v1", lookup: noDns }), "base_url")).toBe(
      "the URL must start with https:// (not ftp://)",
    );
    expect(
      expectFailure(await probe({ baseUrl: `http://user:pw@127.0.0.1:${server.port}/v1` }), "base_url"),
    ).toBe("the URL must not contain a user name or password");
    expect(expectFailure(await probe({ baseUrl: "not a url" }), "base_url")).toBe("not a valid URL");
    expect(server.seen).toHaveLength(0);
  });

  it("refuses plain http to a public host unless private URLs are allowed (the key would travel in clear)", async () => {
    const lookup: LookupFn = async () => [{ address: "203.0.114.10", family: 4 }];
    const message = expectFailure(
      await probe({ baseUrl: "http://llm.example.com/v1", allowPrivate: false, lookup }),
      "base_url",
    );
    expect(message).toBe("use https://: plain http would send the key unencrypted");
  });
});

describe("probeEndpoint: the key never leaks", () => {
  const echo = `Incorrect API key provided: ${KEY}. Header was Authorization: Bearer ${KEY}`;

  it("scrubs a key the endpoint echoes in a 401", async () => {
    server.on("GET /v1/models", json(401, { error: { message: echo } }));
    const result = await probe();
    expect(JSON.stringify(result)).not.toContain(KEY);
    expect(JSON.stringify(result)).not.toContain("SECRET");
    expect(expectFailure(result, "api_key")).toContain(
      "the endpoint refused the key (401): Incorrect API key",
    );
  });

  it("scrubs a key echoed in a plain-text 500 and in a model error", async () => {
    server.on(
      "POST /v1/chat/completions",
      text(500, `boom; request headers: {"authorization":"Bearer ${KEY}"}`),
    );
    const r1 = await probe();
    expect(expectFailure(r1, "base_url")).toContain("the endpoint answered 500: boom");
    expect(JSON.stringify(r1)).not.toContain(KEY);

    server.on(
      "POST /v1/chat/completions",
      json(404, { error: { message: `model ${MODEL} not found for ${KEY}` } }),
    );
    const r2 = await probe();
    expectFailure(r2, "model_name");
    expect(JSON.stringify(r2)).not.toContain(KEY);
  });

  it("scrubs a key echoed in a redirect Location path", async () => {
    server.on("GET /v1/models", (_req, res) => {
      res.writeHead(301, { location: `/login/${KEY}` });
      res.end();
    });
    const result = await probe();
    expect(expectFailure(result, "base_url")).toContain("redirected (301)");
    expect(JSON.stringify(result)).not.toContain(KEY);
  });

  it("removes a short key from endpoint text without mangling the probe's own words", async () => {
    server.on(
      "POST /v1/chat/completions",
      json(400, { error: { message: "max_tokens rejected for key tok" } }),
    );
    const message = expectFailure(await probe({ apiKey: "tok" }), "model_name");
    expect(message).toBe(
      `the endpoint rejected a test chat request for the model "${MODEL}" (400): max_tokens rejected for key [redacted]`,
    );
  });

  it("refuses a key that cannot be sent as a header without echoing it", async () => {
    const result = await probe({ apiKey: "sk-abc\ndef" });
    expect(expectFailure(result, "api_key")).toBe(
      "the key contains spaces or characters that cannot be sent in an HTTP header",
    );
    expect(server.seen).toHaveLength(0);
  });
});

describe("SSRF guard", () => {
  const refused = (): Array<[string]> => [
    [`http://127.0.0.1:${server.port}/v1`],
    [`http://localhost:${server.port}/v1`],
    ["http://10.0.0.1/v1"],
    ["http://169.254.169.254/latest/meta-data"],
    [`http://[::1]:${server.port}/v1`],
    [`http://[::ffff:127.0.0.1]:${server.port}/v1`],
    [`https://metadata.google.internal/v1`],
  ];

  it("refuses private, loopback and local targets and sends them nothing", async () => {
    for (const [baseUrl] of refused()) {
      const result = await probe({ baseUrl, allowPrivate: false, lookup: noDns });
      const message = expectFailure(result, "base_url");
      expect(message, baseUrl).toMatch(/not a public address|local host name/);
      expect(message).toContain("Convai's servers cannot reach private, loopback or link-local addresses");
      expect(result.steps).toEqual([]);
    }
    expect(server.seen).toHaveLength(0);
  });

  it("refuses a public-looking name that resolves to loopback (DNS rebinding)", async () => {
    const lookup: LookupFn = async () => [{ address: "127.0.0.1", family: 4 }];
    const result = await probe({
      baseUrl: `http://llm.example.com:${server.port}/v1`,
      allowPrivate: false,
      lookup,
    });
    expect(expectFailure(result, "base_url")).toBe(
      "llm.example.com resolves to 127.0.0.1; Convai's servers cannot reach private, loopback or link-local addresses",
    );
    expect(server.seen).toHaveLength(0);
  });

  it("refuses a name when any one of its addresses is private", async () => {
    const lookup: LookupFn = async () => [
      { address: "203.0.114.10", family: 4 },
      { address: "fd00::5", family: 6 },
    ];
    const guard = await resolvePublicAddress("llm.example.com", { allowPrivate: false, lookup });
    expect(guard).toEqual({
      ok: false,
      reason:
        "llm.example.com resolves to fd00::5; Convai's servers cannot reach private, loopback or link-local addresses",
    });
  });

  it("accepts a public name and returns the first address", async () => {
    const lookup: LookupFn = async () => [
      { address: "2606:4700::1111", family: 6 },
      { address: "203.0.114.10", family: 4 },
    ];
    expect(await resolvePublicAddress("LLM.Example.com.", { allowPrivate: false, lookup })).toEqual({
      ok: true,
      address: "2606:4700::1111",
      family: 6,
    });
  });

  it("checks literal addresses without DNS", async () => {
    expect(await resolvePublicAddress("[2606:4700::1111]", { allowPrivate: false, lookup: noDns })).toEqual({
      ok: true,
      address: "2606:4700::1111",
      family: 6,
    });
    expect(await resolvePublicAddress("127.0.0.1", { allowPrivate: true, lookup: noDns })).toEqual({
      ok: true,
      address: "127.0.0.1",
      family: 4,
    });
  });

  it("reports a lookup failure or an empty or malformed answer as unresolvable", async () => {
    const failing: LookupFn = async () => {
      throw Object.assign(new Error("temporary failure"), { code: "EAI_AGAIN" });
    };
    expect(await resolvePublicAddress("api.example.com", { allowPrivate: false, lookup: failing })).toEqual({
      ok: false,
      reason: "could not resolve api.example.com (DNS lookup timed out)",
    });
    expect(
      await resolvePublicAddress("api.example.com", { allowPrivate: false, lookup: async () => [] }),
    ).toEqual({
      ok: false,
      reason: "could not resolve api.example.com (no addresses)",
    });
    const junk: LookupFn = async () => [{ address: "not-an-ip", family: 4 }];
    expect(await resolvePublicAddress("api.example.com", { allowPrivate: false, lookup: junk })).toEqual({
      ok: false,
      reason: "could not resolve api.example.com (invalid address in answer)",
    });
  });

  it("connects only to the checked address, keeping the original Host header", async () => {
    const asked: string[] = [];
    const lookup: LookupFn = async (hostname) => {
      asked.push(hostname);
      return [{ address: "127.0.0.1", family: 4 }];
    };
    const result = await probe({ baseUrl: `http://llm.test.invalid:${server.port}/v1`, lookup });
    expectOk(result);
    expect(asked).toEqual(["llm.test.invalid"]);
    expect(server.seen.map((s) => s.headers.host)).toEqual([
      `llm.test.invalid:${server.port}`,
      `llm.test.invalid:${server.port}`,
    ]);
    expect(result.steps[0]?.url).toBe(`http://llm.test.invalid:${server.port}/v1/models`);
  });

  it("gives the pinned agent's lookup only to the host it was checked for", async () => {
    const agent = createPinnedAgent(
      "llm.test.invalid",
      { address: "127.0.0.1", family: 4 },
      { timeoutMs: 2_000 },
    );
    try {
      const ok = await request(`http://llm.test.invalid:${server.port}/v1/models`, { dispatcher: agent });
      expect(ok.statusCode).toBe(200);
      await ok.body.dump();
      await expect(
        request(`http://other.test.invalid:${server.port}/v1/models`, { dispatcher: agent }),
      ).rejects.toThrow(/unchecked host other\.test\.invalid/);
    } finally {
      await agent.destroy();
    }
    expect(server.seen).toHaveLength(1);
  });

  it("times out a lookup that never answers", async () => {
    const hanging: LookupFn = () => new Promise(() => undefined);
    const started = Date.now();
    const result = await probe({
      baseUrl: "https://slow-dns.example.com/v1",
      lookup: hanging,
      timeoutMs: 300,
    });
    expect(expectFailure(result, "base_url")).toBe("slow-dns.example.com did not answer within 0.3s");
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
