/**
 * Benchmark 4: PGlite start-up time and memory.
 *
 * Cases: `PgStore.layerEmbedded()` in memory, on a fresh temp directory, and on that directory
 * again (a reopen), each against the baseline, a bare `PGlite.create()` in memory.
 *
 * Every start-up runs in a child process of its own (pgliteStartupChild.ts), on purpose. RSS is
 * process-wide: in this process it already holds the earlier benchmarks' PGlite (hundreds of MB
 * of WebAssembly memory that is not handed back to the OS after `close()`), the V8 heap, and the
 * allocator's free lists, so the delta of a second or third PGlite here would measure mostly
 * what gets reused, not what a start-up costs. A fresh process gives each case the same
 * starting point; the child imports every module before its clock starts, so only the start-up
 * itself is timed, and it runs a GC before each RSS reading. The baseline still comes from the
 * same run: one bare child per round, interleaved with the cases. RSS deltas stay approximate
 * (page granularity, lazily touched WebAssembly memory).
 */
import { execFile } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { fileURLToPath } from "node:url"
import { Effect, Schema } from "effect"
import {
  anotherRound,
  type BenchOptions,
  describeRounds,
  median,
  progress,
  type ReportRow,
  type Rounds,
  type Section
} from "./common.ts"

const childScript = fileURLToPath(new URL("./pgliteStartupChild.ts", import.meta.url))

const Sample = Schema.fromJsonString(
  Schema.Struct({ ms: Schema.Number, cpuMs: Schema.Number, rssBefore: Schema.Number, rssAfter: Schema.Number })
)
type Sample = typeof Sample.Type

class ChildFailed extends Schema.TaggedError<ChildFailed>()("ChildFailed", {
  which: Schema.String,
  cause: Schema.Defect()
}) {}

/** Runs one child (killed if this fiber is interrupted) and decodes its last stdout line. */
const startChild = (which: "bare" | "memory" | "dir", dataDir?: string) =>
  Effect.tryPromise({
    // process.execPath is the pinned node (node_modules/.bin/node) running this script
    try: (signal) =>
      new Promise<string>((resolve, reject) =>
        execFile(
          process.execPath,
          ["--expose-gc", childScript, which, ...(dataDir === undefined ? [] : [dataDir])],
          { signal, maxBuffer: 1 << 20 },
          (error, stdout, stderr) =>
            error === null ? resolve(stdout) : reject(new Error(`${error.message}\n${stderr}`))
        )
      ),
    catch: (cause) => new ChildFailed({ which, cause })
  }).pipe(
    Effect.flatMap((stdout) =>
      Schema.decodeUnknownEffect(Sample)(stdout.trim().split("\n").at(-1) ?? "").pipe(
        Effect.mapError((cause) => new ChildFailed({ which, cause }))
      )
    )
  )

/** A temp directory for the run's data directories, removed at the end whatever happens. */
const tempRoot = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(path.join(os.tmpdir(), "eventline-bench-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const mb = (bytes: number) => bytes / 2 ** 20
const delta = (sample: Sample) => mb(sample.rssAfter - sample.rssBefore)

export const run = (options: BenchOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      // a round is 4 start-ups of seconds each
      const rounds: Rounds = options.quick ? { max: 1, budgetSeconds: 0 } : { max: 3, budgetSeconds: 25 }
      const startedAt = performance.now()
      const root = yield* tempRoot
      const samples = {
        bare: [] as Array<Sample>,
        memory: [] as Array<Sample>,
        fresh: [] as Array<Sample>,
        reopen: [] as Array<Sample>
      }
      let done = 0
      for (let round = 0; anotherRound(rounds, round, startedAt); round++) {
        done++
        const dataDir = path.join(root, `round-${round}`)
        yield* progress(
          `PGlite start-up round ${round + 1} (${describeRounds(rounds)}): bare, memory, fresh dir, reopen (child processes)`
        )
        // the baseline first on even rounds and last on odd ones, as in the other benchmarks
        if (round % 2 === 0) samples.bare.push(yield* startChild("bare"))
        samples.memory.push(yield* startChild("memory"))
        samples.fresh.push(yield* startChild("dir", dataDir))
        samples.reopen.push(yield* startChild("dir", dataDir))
        if (round % 2 === 1) samples.bare.push(yield* startChild("bare"))
      }
      const summary = (list: ReadonlyArray<Sample>) => ({
        seconds: median(list.map((sample) => sample.ms)) / 1000,
        cpuSeconds: median(list.map((sample) => sample.cpuMs)) / 1000,
        mb: median(list.map(delta))
      })
      const bare = summary(samples.bare)
      const show = (figures: ReturnType<typeof summary>) =>
        `${figures.seconds.toFixed(2)}s/cpu ${figures.cpuSeconds.toFixed(2)}s/+${figures.mb.toFixed(0)}MB`
      const signed = (value: number, digits: number) => `${value >= 0 ? "+" : ""}${value.toFixed(digits)}`
      const row = (name: string, list: ReadonlyArray<Sample>, what: string): ReportRow => {
        const figures = summary(list)
        return {
          benchmark: `PGlite start-up: ${name}`,
          eventline: show(figures),
          baseline: show(bare),
          ratio: `t ${(figures.seconds / bare.seconds).toFixed(2)} cpu ${(figures.cpuSeconds / bare.cpuSeconds).toFixed(2)} rss ${(figures.mb / bare.mb).toFixed(2)}`,
          meaning: `${what}: ${signed(figures.cpuSeconds - bare.cpuSeconds, 2)} s cpu, ${signed(figures.mb - bare.mb, 0)} MB vs bare create()`
        }
      }
      return {
        title: "PGlite start-up",
        rows: [
          row("layerEmbedded(), in memory", samples.memory, "+ client, migrations"),
          row("layerEmbedded(), fresh dir", samples.fresh, "+ files, client, migrations"),
          row("layerEmbedded(), reopen dir", samples.reopen, "no initdb, migrations no-op")
        ],
        notes: [
          `PGlite start-up: each start-up in its own child process (RSS is process-wide); wall time, process CPU time and RSS delta measured inside the child around the start-up only (modules already loaded), medians of ${done} round(s); baseline = bare PGlite.create() in memory, in a child of the same run. Wall time swings with machine load; CPU time much less.`
        ]
      } satisfies Section
    })
  )
