/**
 * One PGlite start-up, measured in a process of its own (spawned by pgliteStartup.ts):
 *
 *   node --expose-gc scripts/bench/pgliteStartupChild.ts <bare|memory|dir> [dataDir]
 *
 * - bare:   `PGlite.create()` in memory (the baseline)
 * - memory: `PgStore.layerEmbedded()` in memory (PGlite + client + migrations)
 * - dir:    `PgStore.layerEmbedded({ dataDir })`: a fresh directory, or a reopen of one a previous
 *           child left behind
 *
 * Every module is imported before the clock starts, whatever the case, so loading code is not
 * counted. Prints one JSON line: `{ ms, cpuMs, rssBefore, rssAfter }` (RSS in bytes). `cpuMs` is the
 * CPU time of the whole process (all threads, so WebAssembly compilation too) during start-up:
 * less sensitive than wall time to other work on the machine.
 */
import { PGlite } from "@electric-sql/pglite"
import * as PgStore from "@eventline/postgres/PgStore"
import { Effect, Layer, Schema } from "effect"

const Case = Schema.Literals(["bare", "memory", "dir"])

const collectGarbage = () => {
  const gc: unknown = Reflect.get(globalThis, "gc")
  if (typeof gc === "function") gc()
}

const startBare = Effect.acquireRelease(
  Effect.promise(() => PGlite.create()),
  (db) => Effect.promise(() => db.close())
)

const program = Effect.gen(function* () {
  const which = yield* Schema.decodeUnknownEffect(Case)(process.argv[2])
  const dataDir = process.argv[3]
  const start =
    which === "bare"
      ? Effect.asVoid(startBare)
      : Effect.asVoid(Layer.build(PgStore.layerEmbedded(which === "dir" ? { dataDir } : {})))
  collectGarbage()
  const rssBefore = process.memoryUsage().rss
  const cpu = process.cpuUsage()
  const started = performance.now()
  yield* start
  const ms = performance.now() - started
  const used = process.cpuUsage(cpu)
  const cpuMs = (used.user + used.system) / 1000
  collectGarbage()
  const rssAfter = process.memoryUsage().rss
  yield* Effect.sync(() => process.stdout.write(`${JSON.stringify({ ms, cpuMs, rssBefore, rssAfter })}\n`))
})

Effect.runPromise(Effect.scoped(program)).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`)
  process.exitCode = 1
})
