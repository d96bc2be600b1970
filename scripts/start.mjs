// `npm start` and `npm run sandbox`: run the built bot (dist/app.mjs) in this process, building it first
// only when it is missing or older than the sources. Plain JavaScript with no imports beyond Node's own,
// so a production install (`npm ci --omit=dev` beside a built dist/, or an image without src/) runs it
// without TypeScript or esbuild. Type-checking belongs to `npm test`.
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bundle = path.join(root, "dist", "app.mjs");

/** Newest modification time of what the bundle is built from; 0 when the sources are not here. */
function newestSource() {
  const src = path.join(root, "src");
  if (!existsSync(src)) return 0;
  let newest = 0;
  const files = readdirSync(src, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => path.join(src, file));
  // package.json holds the esbuild options; tsconfig.json settings esbuild reads.
  for (const file of [...files, path.join(root, "package.json"), path.join(root, "tsconfig.json")]) {
    if (existsSync(file)) newest = Math.max(newest, statSync(file).mtimeMs);
  }
  return newest;
}

function buildIfStale() {
  const built = existsSync(bundle) ? statSync(bundle).mtimeMs : -1;
  const sources = newestSource();
  if (built >= 0 && built >= sources) return;
  const why = built < 0 ? "dist/app.mjs is missing" : "src/ changed since dist/app.mjs was built";
  if (sources === 0) {
    process.stderr.write(`Cannot start: ${why} and there is no src/ to build it from.\n`);
    process.exit(1);
  }
  if (!existsSync(path.join(root, "node_modules", "esbuild"))) {
    process.stderr.write(
      `Cannot start: ${why}, and building it needs esbuild, a dev dependency. ` +
        "Run `npm ci` (with dev dependencies) and `npm run build`, then start again.\n",
    );
    process.exit(1);
  }
  process.stderr.write(`Building dist/app.mjs (${why}).\n`);
  // npm sets npm_execpath when it runs this script; otherwise find npm on PATH.
  const npm = process.env.npm_execpath;
  const result = npm
    ? spawnSync(process.execPath, [npm, "run", "build", "--silent"], { cwd: root, stdio: "inherit" })
    : spawnSync("npm", ["run", "build", "--silent"], { cwd: root, stdio: "inherit", shell: true });
  if (result.status !== 0) {
    process.stderr.write("Cannot start: `npm run build` failed; see its output above.\n");
    process.exit(1);
  }
}

buildIfStale();
// The bundle reads process.argv itself (`sandbox` serves the Convai sandbox alone).
await import(pathToFileURL(bundle).href);
