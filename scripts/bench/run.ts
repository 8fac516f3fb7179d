/**
 * `npm run bench [-- --quick]`: Eventline's speed and memory, as ratios against baselines run in
 * the same process and the same run (the machines are noisy; absolute figures are only context).
 *
 * 1. append throughput on PostgreSQL vs raw multi-row INSERTs   (appendThroughput.ts)
 * 2. readAll throughput on PostgreSQL vs a raw keyset SELECT     (readAllThroughput.ts)
 * 3. append throughput on embedded PGlite vs raw INSERTs on the same PGlite, and vs the
 *    in-memory store                                             (pgliteAppendThroughput.ts)
 * 4. PGlite start-up time and memory vs a bare PGlite.create()  (pgliteStartup.ts)
 * 5. appends/s and Node CPU per append of PgStore.layer on PostgreSQL, each measurement in a
 *    fresh node process, vs pgbench inserting the same rows into a plain table (the raw
 *    baseline) and vs pgbench running the store's own statement (1/8/32 writers, 10-event
 *    appends, Exact appends to existing streams); loading a 100-event stream vs the same
 *    SELECT                                                      (appendLatency.ts)
 *
 * PostgreSQL: the admin URL is DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres);
 * the run works in a throwaway database that is dropped at the end, also on failure or Ctrl-C.
 * Progress goes to stderr, the report to stdout.
 */
import os from "node:os"
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import * as Migrations from "@eventline/postgres/Migrations"
import * as PgEventStore from "@eventline/postgres/PgEventStore"
import { Cause, Effect, Layer, Option, Redacted } from "effect"
import * as AppendLatency from "./appendLatency.ts"
import * as AppendThroughput from "./appendThroughput.ts"
import { type BenchOptions, parseOptions, progress, type Section, skippedRow, table } from "./common.ts"
import * as PgliteAppendThroughput from "./pgliteAppendThroughput.ts"
import * as PgliteStartup from "./pgliteStartup.ts"
import { createBaselineTables, serverVersion, throwawayDatabase } from "./postgres.ts"
import * as ReadAllThroughput from "./readAllThroughput.ts"

const failedSection = (title: string): Section => ({
  title,
  rows: [{ ...skippedRow(title, "failed: see stderr"), eventline: "FAILED" }],
  notes: []
})

/** A benchmark that fails is reported (stderr, and `fallback` in the table); the others still run. */
const reportFailure =
  <A>(title: string, fallback: A) =>
  <E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    effect.pipe(
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.failCause(cause)
          : Effect.as(
              Effect.sync(() => process.stderr.write(`\n${title} failed:\n${Cause.pretty(cause)}\n`)),
              fallback
            )
      )
    )

const orFailedRow = (title: string) => reportFailure(title, failedSection(title))

/**
 * Benchmarks 1 and 2 share one throwaway database and one pool of 8 connections. readAll reads
 * the log benchmark 1 left.
 */
const postgresBenchmarks = (options: BenchOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const url = yield* throwawayDatabase(options.adminUrl)
      const client = PgClient.layer({ url: Redacted.make(url), maxConnections: 8, minConnections: 8 })
      const store = PgEventStore.layer.pipe(Layer.provideMerge(Migrations.layer), Layer.provideMerge(client))
      return yield* Effect.gen(function* () {
        yield* createBaselineTables
        const append = yield* AppendThroughput.run(options).pipe(orFailedRow("PostgreSQL append"))
        const readAll = yield* ReadAllThroughput.run(options).pipe(orFailedRow("PostgreSQL readAll"))
        return [append, readAll]
      }).pipe(Effect.provide(store))
    })
  )

const program = Effect.gen(function* () {
  const options = parseOptions(process.argv.slice(2), process.env)
  const started = performance.now()
  const cpus = os.cpus()
  const loadAtStart = os.loadavg()[0] ?? 0
  yield* progress(`eventline bench${options.quick ? " --quick" : ""}: progress on stderr, report on stdout`)
  const sections: Array<Section> = []

  const pgVersion = yield* serverVersion(options.adminUrl)
  const adminHost = new URL(options.adminUrl).host
  if (Option.isNone(pgVersion)) {
    const reason = `PostgreSQL unreachable at ${adminHost} (set DATABASE_URL)`
    yield* Effect.sync(() => process.stdout.write(`SKIP PostgreSQL benchmarks: ${reason}\n`))
    sections.push({
      title: "PostgreSQL",
      rows: [skippedRow("PG append", reason), skippedRow("PG readAll", reason)],
      notes: []
    })
  } else {
    sections.push(
      ...(yield* postgresBenchmarks(options).pipe(reportFailure("PostgreSQL", [failedSection("PostgreSQL")])))
    )
    // its own throwaway database and pools (1, 8, 32 connections), after the shared pool closed
    sections.push(yield* AppendLatency.run(options).pipe(orFailedRow("PostgreSQL appends vs pgbench")))
  }
  sections.push(yield* PgliteAppendThroughput.run(options).pipe(orFailedRow("PGlite append")))
  sections.push(yield* PgliteStartup.run(options).pipe(orFailedRow("PGlite start-up")))

  const seconds = (performance.now() - started) / 1000
  const loadAtEnd = os.loadavg()[0] ?? 0
  const busy = Math.max(loadAtStart, loadAtEnd) > cpus.length ? " (BUSY machine: expect wide ranges)" : ""
  const facts = [
    `machine: ${cpus.length} cpus (${cpus[0]?.model.trim() ?? "unknown"}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM; ` +
      `1-min load avg ${loadAtStart.toFixed(1)} at start, ${loadAtEnd.toFixed(1)} at end${busy}`,
    `node ${process.version} on ${process.platform}/${process.arch}; PostgreSQL ${Option.getOrElse(pgVersion, () => "unreachable")} at ${adminHost}`,
    `mode: ${options.quick ? "--quick (smoke sizes, fewer rounds)" : "full"}; total ${seconds.toFixed(1)} s`
  ]
  const rows = sections.flatMap((section) => section.rows)
  const notes = sections.flatMap((section) => section.notes)
  const report = [
    "",
    "Eventline benchmarks (ratios vs a baseline run alternately in the same process; figures are medians)",
    ...facts,
    "",
    table(rows),
    "",
    ...notes.map((note) => `- ${note}`),
    "- ratio = eventline/baseline per alternating round (median, [min-max] across the n rounds; each comparison runs up to a fixed number of rounds within a time budget, so a busy machine gives fewer rounds, not a longer run). The eventline/baseline columns are medians of their own, so on a noisy run their quotient can differ from the ratio. Throughput: <1 means eventline is slower. Time and memory: >1 means eventline costs more.",
    ""
  ].join("\n")
  yield* Effect.sync(() => process.stdout.write(report))
})

NodeRuntime.runMain(program)
