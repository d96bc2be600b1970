/**
 * Preloaded into the bot's child process by tests (never by the bot): stands in for a bug that escapes
 * every handler. SIGUSR2 rejects a promise nobody handles; SIGWINCH throws from a timer callback.
 */
process.on("SIGUSR2", () => {
  void Promise.reject(new Error("injected rejection nobody handles"));
});
process.on("SIGWINCH", () => {
  setTimeout(() => {
    throw new Error("injected exception from a timer");
  }, 0);
});
