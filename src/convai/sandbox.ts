/**
 * Kept only so bench/lib.ts (being split in another branch) still compiles: the sandbox lives in
 * ./sandbox/. Import from "./sandbox/index.js"; delete this file once nothing imports it.
 */
export * from "./sandbox/index.js";
