/**
 * Benchmark 5: appends and stream loads on PostgreSQL against what PostgreSQL itself can do.
 * Part of `npm run bench`; alone: `node scripts/bench/appendLatency.ts [--quick] [--cases=a1,b]`.
 *
 * Workloads (N writers, each on its own streams):
 *   a1/a8/a32  one event per append to a new stream (Exact(0)), 1, 8 and 32 writers
 *   b          ten events per append to new streams, 8 writers
 *   c          one event per append to an existing stream with Exact(current), 8 writers
 *   load       CommandHandler.load (read and fold) of a 100-event stream, one after another
 * Contenders, each run for a fixed time per round, the order rotated every round:
 *   eventline  `EventStore.append` of `PgStore.layer` (its defaults), N fibers on a pool of N+1
 *              connections, in a FRESH node process per round (this script with --child=...),
 *              which reports appends/s and its own CPU per append (process.cpuUsage).
 *   raw        pgbench with N clients inserting the same rows into a plain table (bigserial key,
 *              UNIQUE (stream_id, version)), autocommit: the baseline that counts. For `load`:
 *              pgbench running the store's page SELECT.
 *   store SQL  pgbench running the store's own append statement, captured from a probe append:
 *              Node's overhead over our SQL, not our distance from PostgreSQL.
 * Ratios are medians of per-round ratios (ranges shown); every pgbench run is checked against
 * the rows it wrote.
 */
import { execFile } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import * as Aggregate from "@eventline/core/Aggregate"
import * as CommandHandler from "@eventline/core/CommandHandler"
import * as Decider from "@eventline/core/Decider"
import type * as EventEnvelope from "@eventline/core/EventEnvelope"
import * as EventStore from "@eventline/core/EventStore"
import * as ExpectedVersion from "@eventline/core/ExpectedVersion"
import * as PgStore from "@eventline/postgres/PgStore"
import { Effect, Layer, Option, Redacted, Schema, type Scope, Stream } from "effect"
import { SqlClient } from "effect/sql"
import * as Statement from "effect/sql/Statement"
import {
  type BenchOptions,
  compact,
  describeRounds,
  makeBatches,
  median,
  parseOptions,
  progress,
  type ReportRow,
  type Rounds,
  rotate,
  type Section,
  skippedRow,
  table
} from "./common.ts"
import { throwawayDatabase } from "./postgres.ts"

class BenchFailed extends Schema.TaggedError<BenchFailed>()("BenchFailed", { reason: Schema.String }) {}

const streamType = "BenchOrder"
const target = 0.6

interface Workload {
  readonly key: string
  readonly label: string
  readonly writers: number
  readonly k: number
  readonly existing: boolean
  /** CommandHandler.load of a k-event stream instead of appends; raw = pgbench on the same SELECT. */
  readonly load?: true
}
const workloads: ReadonlyArray<Workload> = [
  { key: "a1", label: "(a) 1 event, new stream, 1 writer", writers: 1, k: 1, existing: false },
  { key: "a8", label: "(a) 1 event, new stream, 8 writers", writers: 8, k: 1, existing: false },
  { key: "a32", label: "(a) 1 event, new stream, 32 writers", writers: 32, k: 1, existing: false },
  { key: "b", label: "(b) 10 events/append, 8 writers", writers: 8, k: 10, existing: false },
  { key: "c", label: "(c) 1 event, existing, Exact, 8 writers", writers: 8, k: 1, existing: true },
  { key: "load", label: "load and fold a 100-event stream", writers: 1, k: 100, existing: true, load: true }
]

/** One side of one round: operations (appends or loads) per second, node CPU µs per operation. */
interface Sample {
  readonly perSecond: number
  readonly cpuMicros: number
}

const batchOf = (k: number): ReadonlyArray<EventEnvelope.NewEvent> =>
  makeBatches({ streams: 1, appendsPerStream: 1, eventsPerAppend: k, concurrency: 1 })[0]?.[0] ?? []

const storeLayer = (url: string, connections: number) =>
  PgStore.layer({ url: Redacted.make(url), maxConnections: connections, minConnections: connections })

// ---------------------------------------------------------------------------------------------
// the child: one measurement of eventline in a fresh process

const CounterEvent = Schema.TaggedUnion({ Incremented: { by: Schema.Int } })
const CounterCommand = Schema.TaggedUnion({ Increment: { counterId: Schema.String, by: Schema.Int } })
const counterDecider: Decider.Decider<typeof CounterCommand.Type, typeof CounterEvent.Type, number> = {
  initialState: 0,
  decide: (command) => Decider.accept(CounterEvent.cases.Incremented.make({ by: command.by })),
  evolve: (value, event) => value + event.by
}
const Counter = Aggregate.make({
  streamType: "BenchCounter",
  decider: counterDecider,
  commands: CounterCommand,
  events: CounterEvent,
  schemaVersion: 1,
  streamId: (command) => command.counterId
})
const loadStream = (tag: string) => `${tag.split("-")[0]}-load`
const counterEvents = Array.from({ length: 100 }, (_, index) => ({
  type: "Incremented",
  schemaVersion: 1,
  data: { by: (index % 7) + 1 },
  metadata: { correlationId: "corr-load", occurredAt: "2026-01-01T00:00:00.000Z" }
}))

/** `writers` fibers run `operation` back to back until `seconds` pass (after a short warm-up). */
const timed = <E, R>(
  writers: number,
  seconds: number,
  operation: (writer: number, index: number) => Effect.Effect<unknown, E, R>
) =>
  Effect.gen(function* () {
    let count = 0
    const runFor = (ms: number, from: number) =>
      Effect.forEach(
        Array.from({ length: writers }, (_, writer) => writer),
        (writer) =>
          Effect.gen(function* () {
            const deadline = performance.now() + ms
            for (let index = from; performance.now() < deadline; index++) {
              yield* operation(writer, index)
              count++
            }
          }),
        { concurrency: "unbounded", discard: true }
      )
    // a fresh process: let the JIT settle first (a cold one costs several times the CPU per operation)
    yield* runFor(2000, 1_000_000)
    count = 0
    const cpu = process.cpuUsage()
    const start = performance.now()
    yield* runFor(seconds * 1000, 0)
    const used = process.cpuUsage(cpu)
    return { perSecond: (count * 1000) / (performance.now() - start), cpuMicros: (used.user + used.system) / count }
  })

const child = (spec: { readonly url: string; readonly key: string; readonly seconds: number; readonly tag: string }) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const workload = workloads.find((entry) => entry.key === spec.key) as Workload
    if (workload.load) return yield* timed(1, spec.seconds, () => CommandHandler.load(Counter, loadStream(spec.tag)))
    const batch = batchOf(workload.k)
    // new streams: one per append; existing: one per writer (and phase), at Exact(its version)
    return yield* timed(workload.writers, spec.seconds, (w, i) =>
      workload.existing
        ? store.append(`${spec.tag}-${w}-${i >= 1e6}`, ExpectedVersion.exact((i % 1e6) * workload.k), batch, {
            streamType
          })
        : store.append(`${spec.tag}-${w}-${i}`, ExpectedVersion.exact(0), batch, { streamType })
    )
  }).pipe(Effect.provide(storeLayer(spec.url, (workloads.find((entry) => entry.key === spec.key)?.writers ?? 1) + 1)))

/** Runs one measurement in a fresh node process (this script, `--child=<spec>`). */
const inFreshProcess = (spec: Parameters<typeof child>[0]) =>
  Effect.map(
    exec(process.execPath, [...process.execArgv, import.meta.filename, `--child=${JSON.stringify(spec)}`]),
    (out) => JSON.parse(out.trim().split("\n").at(-1) ?? "") as Sample
  )

// ---------------------------------------------------------------------------------------------
// pgbench (and the child process)

const exec = (file: string, args: ReadonlyArray<string>) =>
  Effect.tryPromise({
    try: () =>
      new Promise<string>((resolve, reject) =>
        execFile(file, args, { maxBuffer: 1 << 22 }, (error, stdout, stderr) =>
          error === null ? resolve(stdout) : reject(new Error(`${file}: ${error.message}\n${stderr}`))
        )
      ),
    catch: (cause) => new BenchFailed({ reason: String(cause) })
  })

const pgbenchPath = process.env.PGBENCH || "pgbench"

/** A pgbench run of `script` with `clients` clients for `seconds`: transactions per second. */
const pgbench = (url: string, script: string, clients: number, seconds: number, defines: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const args = `-n -M prepared -c ${clients} -j ${Math.min(clients, 2)} -T ${seconds}`.split(" ")
    const out = yield* exec(pgbenchPath, [...args, "-f", script, ...defines.flatMap((define) => ["-D", define]), url])
    const tps = /tps = ([\d.]+)/.exec(out)
    const done = /number of transactions actually processed: (\d+)/.exec(out)
    const failed = /number of failed transactions: (\d+)/.exec(out)
    if (tps === null || done === null || (failed !== null && failed[1] !== "0")) {
      return yield* new BenchFailed({ reason: `pgbench ${script}: ${out}` })
    }
    return { tps: Number(tps[1]), transactions: Number(done[1]) }
  })

/** A PostgreSQL array literal of text elements (for a pgbench -D variable). */
const arrayLiteral = (values: ReadonlyArray<unknown>) =>
  `{${values.map((value) => `"${String(value).replaceAll("\\", "\\\\").replaceAll('"', '\\"')}"`).join(",")}}`

/** Time-ordered uuids made by the server, as the store's UUIDv7s (right-leaning index inserts). */
const serverUuid =
  "(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || substr(replace(gen_random_uuid()::text, '-', ''), 13))::uuid"

const newStreamId = "\\set sid random(1, 4611686018427387903)"
const existingStreamId = "\\set sid :base + :client_id"

/** The store's statement as pgbench runs it: ids made in SQL, the stream id and version as variables. */
const storeScript = (workload: Workload, text: string, params: ReadonlyArray<unknown>) => {
  const defines: Array<string> = []
  const body = text.replace(/\$(\d+)(::uuid\[\])?/g, (_, digits: string, uuids: string | undefined) => {
    const index = Number(digits)
    if (uuids !== undefined) return `ARRAY(SELECT ${serverUuid} FROM generate_series(1, ${workload.k}))`
    if (index === 1) return ":sid"
    if (index === 9) return ":cur"
    const value = params[index - 1]
    defines.push(`p${index}=${Array.isArray(value) ? arrayLiteral(value) : String(value)}`)
    return `:p${index}`
  })
  const lines = [workload.existing ? existingStreamId : newStreamId, `${body};`]
  if (workload.existing) lines.push(`\\set cur :cur + ${workload.k}`)
  return { text: `${lines.join("\n")}\n`, defines }
}

/** The raw baseline: one INSERT of the append's k rows into a plain table. */
const rawScript = (workload: Workload) => {
  const batch = batchOf(workload.k)
  const rows = batch.map(
    (_event, index) =>
      `(:sid, '${streamType}', ${workload.existing ? `:cur + ${index + 1}` : index + 1}, ${serverUuid}, :t${index}, 1, :d${index}, :m${index})`
  )
  const defines = batch.flatMap((event, index) => [
    `t${index}=${event.type}`,
    `d${index}=${JSON.stringify(event.data)}`,
    `m${index}=${JSON.stringify(event.metadata)}`
  ])
  const lines = [
    workload.existing ? existingStreamId : newStreamId,
    `INSERT INTO public.raw_events (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata) VALUES ${rows.join(", ")};`
  ]
  if (workload.existing) lines.push(`\\set cur :cur + ${workload.k}`)
  return { text: `${lines.join("\n")}\n`, defines }
}

// ---------------------------------------------------------------------------------------------
// the parent

/** The statements `effect` sends, as compiled for the driver (text, parameters). */
const captured = (effect: Effect.Effect<unknown, unknown>) =>
  Effect.gen(function* () {
    const seen: Array<readonly [string, ReadonlyArray<unknown>]> = []
    const record: Statement.Transformer = (self) =>
      Effect.sync(() => {
        seen.push(self.compile())
        return self
      })
    yield* Effect.ignore(effect.pipe(Effect.provideService(Statement.CurrentTransformer, record)))
    return seen
  })

type Side = "eventline" | "raw" | "storeSql"

const measure = (workload: Workload, url: string, workDir: string, rounds: Rounds, seconds: number, tag: string) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const sql = yield* SqlClient.SqlClient
    const { k, writers } = workload
    const batch = batchOf(k)
    const probe = workload.load ? loadStream(tag) : `probe-${tag}-${workload.key}`
    if (workload.existing) {
      const first = workload.load ? counterEvents : batch
      yield* store.append(probe, ExpectedVersion.NoStream, first, {
        streamType: workload.load ? Counter.streamType : streamType
      })
    }
    // what the store sends: its page query (load) or its append statement, rewritten for pgbench
    const statements = yield* captured(
      workload.load
        ? Stream.runDrain(store.readStream(probe))
        : store.append(probe, ExpectedVersion.exact(workload.existing ? k : 0), batch, { streamType })
    )
    const [text, params] = statements[0] ?? ["", []]
    const scripts = workload.load
      ? { raw: { text: `${loadScript(text)};\n`, defines: [`sid=${probe}`] } }
      : { raw: rawScript(workload), storeSql: storeScript(workload, text, params) }
    for (const [name, script] of Object.entries(scripts)) {
      yield* Effect.promise(() => writeFile(path.join(workDir, `${workload.key}-${name}.sql`), script.text))
    }
    let base = 5_000_000_000_000_000_000n + BigInt(Date.now()) * 1_000_000n
    let round = 0
    /** pgbench, checked: rows written = transactions x k (the store's SQL writes nothing on a conflict). */
    const bench = (name: "raw" | "storeSql", table: string) =>
      Effect.gen(function* () {
        const defines = [...(scripts[name]?.defines ?? [])]
        if (workload.existing && !workload.load) {
          base += 1000n
          defines.push(`base=${base}`, `cur=${name === "raw" ? 0 : k}`)
          const ids = Array.from({ length: writers }, (_, client) => String(base + BigInt(client)))
          if (name === "storeSql") {
            yield* Effect.forEach(ids, (id) => store.append(id, ExpectedVersion.NoStream, batch, { streamType }), {
              concurrency: writers
            })
          }
        }
        const count = sql<{ readonly n: string }>`SELECT count(*)::text AS n FROM ${sql(table)}`.pipe(
          Effect.map((rows) => Number(rows[0]?.n))
        )
        const before = yield* count
        const run = yield* pgbench(url, path.join(workDir, `${workload.key}-${name}.sql`), writers, seconds, defines)
        const written = (yield* count) - before
        if (written !== (workload.load ? 0 : run.transactions * k)) {
          return yield* new BenchFailed({ reason: `${workload.key} ${name}: ${written} rows, ${run.transactions} tx` })
        }
        return { perSecond: run.tps, cpuMicros: Number.NaN } satisfies Sample
      })
    yield* progress(`${workload.label}: ${describeRounds(rounds)} of ${seconds} s per contender`)
    const eventline = Effect.suspend(() =>
      inFreshProcess({ url, key: workload.key, seconds, tag: `${tag}-${workload.key}-${++round}` })
    )
    const samples: Readonly<Partial<Record<Side, ReadonlyArray<Sample>>>> = workload.load
      ? yield* rotate(rounds, { raw: bench("raw", "eventline.events"), eventline })
      : yield* rotate(rounds, {
          raw: bench("raw", "public.raw_events"),
          storeSql: bench("storeSql", "eventline.events"),
          eventline
        })
    return rows(workload, samples)
  }).pipe(Effect.provide(storeLayer(url, 2)))

/** The page query with the values of a first page of the whole stream. */
const loadScript = (select: string) =>
  select
    .replaceAll("$1::text", ":sid")
    .replaceAll("$2::int", "1")
    .replaceAll("$3::int", "NULL::int")
    .replaceAll("$4::int", String(EventStore.defaultBatchSize))

const spread = (values: ReadonlyArray<number>) =>
  `${median(values).toFixed(2)}x${values.length > 1 ? ` [${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}]` : ""} n=${values.length}`

const rows = (workload: Workload, samples: Partial<Record<Side, ReadonlyArray<Sample>>>): Array<ReportRow> => {
  const ours = samples.eventline ?? []
  const rate = (side: ReadonlyArray<Sample>) => `${compact(median(side.map((s) => s.perSecond)) * workload.k)} ev/s`
  const perRound = (other: ReadonlyArray<Sample>) => ours.map((s, i) => s.perSecond / (other[i] as Sample).perSecond)
  const ratio = median(perRound(samples.raw ?? []))
  const cpu = median(ours.map((s) => s.cpuMicros))
  const unit = workload.load ? "load" : "append"
  const perEvent = workload.k > 1 ? ` (${(cpu / workload.k).toFixed(1)}/event)` : ""
  const result: Array<ReportRow> = [
    {
      benchmark: workload.label,
      eventline: `${rate(ours)}; ${cpu.toFixed(0)} µs CPU/${unit}${perEvent}`,
      baseline: `raw ${rate(samples.raw ?? [])}${workload.load ? " (the same SELECT)" : ""}`,
      ratio: spread(perRound(samples.raw ?? [])),
      meaning: `target >= ${target}: ${ratio >= target ? "MET" : "MISSED"} (${ratio.toFixed(2)})`
    }
  ]
  if (samples.storeSql !== undefined) {
    result.push({
      benchmark: "  same, vs the store's SQL in pgbench",
      eventline: "",
      baseline: `store SQL ${rate(samples.storeSql)}`,
      ratio: spread(perRound(samples.storeSql)),
      meaning: "Node's overhead over our own statement"
    })
  }
  return result
}

const workDirectory: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(path.join(os.tmpdir(), "eventline-pgbench-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

export const run = (options: BenchOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      if (Option.isNone(yield* Effect.option(exec(pgbenchPath, ["--version"])))) {
        return { title: "append", rows: [skippedRow("append vs pgbench", "no pgbench (set PGBENCH)")], notes: [] }
      }
      const url = yield* throwawayDatabase(options.adminUrl)
      const workDir = yield* workDirectory
      const tag = `lat${Date.now().toString(36)}`
      yield* SqlClient.SqlClient.use(
        (sql) => sql`CREATE TABLE public.raw_events (global_position bigserial PRIMARY KEY, stream_id text NOT NULL,
          stream_type text NOT NULL, version integer NOT NULL, event_id uuid NOT NULL, event_type text NOT NULL,
          schema_version integer NOT NULL, data jsonb NOT NULL, metadata jsonb NOT NULL, UNIQUE (stream_id, version))`
      ).pipe(Effect.provide(Layer.orDie(storeLayer(url, 1))))
      const seconds = options.quick ? 1 : 2
      const rounds: Rounds = options.quick ? { max: 1, budgetSeconds: 0 } : { max: 3, budgetSeconds: 20 }
      // `--cases=a32,load` runs only those
      const only = process.argv
        .find((arg) => arg.startsWith("--cases="))
        ?.slice(8)
        .split(",")
      const rows: Array<ReportRow> = []
      for (const workload of workloads.filter((entry) => only?.includes(entry.key) ?? true)) {
        rows.push(...(yield* measure(workload, url, workDir, rounds, seconds, tag)))
      }
      const note = `eventline: a fresh node process per round (PgStore.layer, N writers on N+1 connections, 2 s warm-up; CPU = its user+system per operation); raw/store SQL: pgbench -M prepared -c N -T ${seconds}; ratio = eventline/pgbench per round, median [range]`
      return { title: "PostgreSQL appends vs pgbench", rows, notes: [note] } satisfies Section
    })
  )

const childSpec = process.argv.find((arg) => arg.startsWith("--child="))?.slice("--child=".length)
if (import.meta.main) {
  NodeRuntime.runMain(
    childSpec === undefined
      ? Effect.flatMap(run(parseOptions(process.argv.slice(2), process.env)), (section) =>
          Effect.sync(() => process.stdout.write(`\n${table(section.rows)}\n\n- ${section.notes.join("\n- ")}\n`))
        )
      : Effect.flatMap(child(JSON.parse(childSpec)), (sample) =>
          Effect.sync(() => process.stdout.write(`${JSON.stringify(sample)}\n`))
        )
  )
}
