import { setTimeout as sleep } from "node:timers/promises";
import type { ConvaiCharacter, ConvaiClient, ConvaiModel, ConvaiResult } from "./types.js";

/**
 * One call for many readers of the same list. Concurrent reads share the call in flight, but a read
 * that starts after a change made through this reader has completed never joins a call that started
 * before it: each completed change starts a new generation, and only calls of the current generation
 * are shared. Nothing is kept once a call has settled: this is not a cache, and a failure never
 * reaches a later read.
 */
class SharedRead<T> {
  private generation = 0;
  private inFlight: { generation: number; call: Promise<T> } | undefined;
  calls = 0;

  constructor(private readonly read: () => Promise<T>) {}

  get(gatherMs = 0): Promise<T> {
    if (this.inFlight && this.inFlight.generation === this.generation) return this.inFlight.call;
    this.calls += 1;
    const call = gatherMs > 0 ? sleep(gatherMs).then(() => this.read()) : this.read();
    const entry = { generation: this.generation, call };
    this.inFlight = entry;
    const forget = () => {
      if (this.inFlight === entry) this.inFlight = undefined;
    };
    entry.call.then(forget, forget);
    return entry.call;
  }

  /** Wraps a change: whatever its outcome (a failed or ambiguous one may still have applied). */
  async change<R>(call: Promise<R>): Promise<R> {
    try {
      return await call;
    } finally {
      this.generation += 1;
    }
  }
}

export type CoalescedClient = ConvaiClient & {
  readonly listCalls: number;
  readonly characterListCalls: number;
};

/** The Convai client with coalesced reads of the model list and of the character list (SPEC §12). */
export function coalesceReads(client: ConvaiClient): CoalescedClient {
  const models = new SharedRead<ConvaiResult<ConvaiModel[]>>(() => client.list());
  const characters = new SharedRead<ConvaiResult<ConvaiCharacter[]>>(() => client.listCharacters());
  return {
    get prefix() {
      return client.prefix;
    },
    get baseUrl() {
      return client.baseUrl;
    },
    get listCalls() {
      return models.calls;
    },
    get characterListCalls() {
      return characters.calls;
    },
    list: (options) => models.get(options?.gatherMs),
    listCharacters: (options) => characters.get(options?.gatherMs),
    register: (input) => models.change(client.register(input)),
    update: (input) => models.change(client.update(input)),
    // A deregistered group's characters stop answering but keep naming it: both lists may change.
    deregister: (group) => characters.change(models.change(client.deregister(group))),
    setCharacterModel: (charID, model) => characters.change(client.setCharacterModel(charID, model)),
    close: () => client.close(),
  };
}
