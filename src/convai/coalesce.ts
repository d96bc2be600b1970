import type { ConvaiClient, ConvaiModel, ConvaiResult } from "./types.js";

/**
 * One Convai list call for many readers (SPEC §12). Concurrent reads share the call in flight, but a
 * read that starts after a change made through this client has completed never joins a call that
 * started before it: each completed change starts a new generation, and only calls of the current
 * generation are shared. No answer is kept once its call has finished: this is not a cache.
 */
export function coalesceReads(client: ConvaiClient): ConvaiClient & { readonly listCalls: number } {
  let generation = 0;
  let listCalls = 0;
  let inFlight: { generation: number; call: Promise<ConvaiResult<ConvaiModel[]>> } | undefined;

  /** A change's outcome, whatever it was: even a failed or ambiguous one may have changed Convai. */
  const changed = async <T>(call: Promise<T>): Promise<T> => {
    try {
      return await call;
    } finally {
      generation += 1;
    }
  };

  return {
    get prefix() {
      return client.prefix;
    },
    get baseUrl() {
      return client.baseUrl;
    },
    get listCalls() {
      return listCalls;
    },
    list() {
      if (inFlight && inFlight.generation === generation) return inFlight.call;
      listCalls += 1;
      const entry = { generation, call: client.list() };
      inFlight = entry;
      // Forget the call once it settles, success or failure, so a failure never poisons later reads.
      const forget = () => {
        if (inFlight === entry) inFlight = undefined;
      };
      entry.call.then(forget, forget);
      return entry.call;
    },
    register: (input) => changed(client.register(input)),
    update: (input) => changed(client.update(input)),
    deregister: (group) => changed(client.deregister(group)),
    close: () => client.close(),
  };
}
