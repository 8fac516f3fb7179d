/**
 * `npm run docs`: the API reference of every @eventline/* package, generated from the JSDoc in its
 * sources by @effect/docgen into packages/<name>/docs/ (git-ignored). Docgen also type-checks
 * every `@example` block against the package's sources, and fails on a missing `@since` or an
 * example that does not compile; so does this script, naming the packages that failed.
 *
 *   npm run docs                 every package
 *   npm run docs -- core http    some of them
 */
import { spawnSync } from "node:child_process"
import { existsSync } from "node:fs"
import { delimiter, join } from "node:path"

const root = join(import.meta.dirname, "..")
const all = ["core", "postgres", "kafka", "http", "testing", "orders"]
const chosen = process.argv.slice(2)
const packages = chosen.length > 0 ? chosen : all
const unknown = packages.filter((name) => !all.includes(name))
if (unknown.length > 0) {
  process.stderr.write(`unknown package(s): ${unknown.join(", ")}; expected some of ${all.join(", ")}\n`)
  process.exit(2)
}

// docgen runs `tsc` from PATH to check the examples: the workspace's own, on the pinned node
const bin = join(root, "node_modules", ".bin")
const docgen = join(bin, "docgen")
if (!existsSync(docgen)) {
  process.stderr.write("@effect/docgen is not installed: run npm install\n")
  process.exit(2)
}
const env = { ...process.env, PATH: `${bin}${delimiter}${process.env.PATH ?? ""}` }

const failed: Array<string> = []
for (const name of packages) {
  const started = Date.now()
  process.stdout.write(`docs: @eventline/${name}\n`)
  const run = spawnSync(docgen, [], { cwd: join(root, "packages", name), env, stdio: "inherit" })
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  if (run.status === 0) process.stdout.write(`docs: @eventline/${name} done in ${seconds} s\n`)
  else failed.push(name)
}
if (failed.length > 0) {
  process.stderr.write(`docs: failed for ${failed.map((name) => `@eventline/${name}`).join(", ")}\n`)
  process.exit(1)
}
