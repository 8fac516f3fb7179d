/**
 * Benchmark 5: append throughput and latency (p50/p95/p99) on PostgreSQL against what PostgreSQL
 * itself can do, plus reading and loading streams. Part of `npm run bench`; alone:
 * `node scripts/bench/appendLatency.ts [--quick] [--cases=a1,b]`.
 *
 * Appends, each side for a fixed time per round (time-bound, not a fixed workload):
 *   (a) one event per append to new streams (Exact(0)), 1, 8 and 32 concurrent writers
 *   (b) ten events per append to new streams, 8 writers
 *   (c) one event per append to existing streams with Exact(current version), 8 writers, each
 *       writer on its own stream (no conflicts)
 * Three contenders per round, the order rotated:
 *   eventline: `EventStore.append` of `PgStore.layer` (its defaults: NOTIFY after commit, the
 *     LISTEN on a connection of its own) in this process, N fibers on a pool of N+1 connections,
 *     each append timed; this process's CPU per append (process.cpuUsage) is reported.
 *   raw: pgbench (C) with N clients (`-c N -j min(N,2) -T s -M prepared -l`) inserting the same
 *     rows into a plain table (bigserial key, unique (stream_id, version), nothing else),
 *     autocommit, one INSERT per transaction (k rows in it for (b)). The baseline that counts.
 *   store SQL: pgbench running the store's own append statement. What it measures is Node's
 *     overhead over our own SQL, not our distance from PostgreSQL.
 *
 * The store-SQL script is captured: a probe append through the store with a statement
 * transformer (effect/sql `CurrentTransformer`) records the compiled SQL text and parameters.
 * That text is written to the script unchanged except for its placeholders: constant parameters
 * become `-D pN=value` variables (sent as bound parameters, as the store sends them), the stream
 * id becomes `:sid` (a random int64 per transaction for new streams; `:base + :client_id` for
 * existing ones), the expected version of (c) becomes `:cur` (a per-client counter), and each
 * event id, a bound uuid in the store, becomes a uuid made by the server in the statement
 * (time-ordered like the store's UUIDv7, so the indexes see the same right-leaning inserts).
 *
 * Figures are medians over rounds, ratios the median of per-round ratios with their range (the
 * noise, shown). CPU per append is also recorded for pgbench (GNU time, less a one-transaction
 * run's start-up cost), PostgreSQL's processes and the whole machine (/proc).
 */
import { execFile } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import os from "node:os"
import path from "node:path"
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import * as Aggregate from "@eventline/core/Aggregate"
import * as CommandHandler from "@eventline/core/CommandHandler"
import * as Decider from "@eventline/core/Decider"
import type * as EventEnvelope from "@eventline/core/EventEnvelope"
import * as EventStore from "@eventline/core/EventStore"
import * as ExpectedVersion from "@eventline/core/ExpectedVersion"
import * as SnapshotStore from "@eventline/core/SnapshotStore"
import * as Migrations from "@eventline/postgres/Migrations"
import * as PgStore from "@eventline/postgres/PgStore"
import { Effect, Option, Redacted, Schema, type Scope, Stream } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import * as Statement from "effect/sql/Statement"
import {
  alternate,
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
import { serverVersion, throwawayDatabase } from "./postgres.ts"

const streamType = "BenchOrder"

class BenchFailed extends Schema.TaggedError<BenchFailed>()("BenchFailed", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

// ---------------------------------------------------------------------------------------------
// figures

const ms = (value: number): string =>
  Number.isNaN(value) ? "?" : value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)

/** Nearest-rank percentile of an ascending array. */
const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number)

/** One side of one round of an append case. */
interface AppendSample {
  readonly appends: number
  /** Appends per second over the span from the first append's start to the last one's end. */
  readonly perSecond: number
  /** Latency of one append, ms. */
  readonly p50: number
  readonly p95: number
  readonly p99: number
  /** CPU µs per append of the client process: this node process, or pgbench (NaN if unknown). */
  readonly clientCpuMicros: number
  /** CPU µs per append of PostgreSQL (every backend and worker of the server). */
  readonly postgresCpuMicros: number
  /** CPU µs per append of the whole machine (PostgreSQL, the client, and anything else running). */
  readonly machineCpuMicros: number
  /** Share of all cpus busy during the run (0..1; NaN if unknown). */
  readonly machineBusy: number
}

const summarize = (
  latencies: Array<number>,
  spanMs: number,
  clientCpuMicros: number,
  machine: MachineUse
): AppendSample => {
  const sorted = latencies.sort((a, b) => a - b)
  const appends = sorted.length
  return {
    appends,
    perSecond: (appends * 1000) / spanMs,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    p99: percentile(sorted, 0.99),
    clientCpuMicros: clientCpuMicros / appends,
    postgresCpuMicros: (machine.postgresSeconds * 1e6) / appends,
    machineCpuMicros: (machine.cpuSeconds * 1e6) / appends,
    machineBusy: machine.busy
  }
}

interface MachineUse {
  /** Share of all cpus busy (0..1). */
  readonly busy: number
  /** CPU seconds of the whole machine. */
  readonly cpuSeconds: number
  /** CPU seconds of PostgreSQL's processes (all of the server's backends and workers). */
  readonly postgresSeconds: number
}

interface CpuTicks {
  /** Busy and total ticks of all cpus (/proc/stat). */
  readonly busy: number
  readonly total: number
  /**
   * Ticks of every `postgres` process, plus those of its exited children (the postmaster's
   * cutime/cstime): a pgbench backend that ends within the window is still counted.
   */
  readonly postgres: number
}

/** The machine's cpu ticks (Linux /proc), or none elsewhere. */
const cpuTicks = (): Option.Option<CpuTicks> => {
  try {
    const fields = (readFileSync("/proc/stat", "utf8").split("\n", 1)[0] ?? "").trim().split(/\s+/).slice(1)
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields.map(Number)
    const busy = user + nice + system + irq + softirq + steal
    const processes: Array<{
      readonly pid: number
      readonly ppid: number
      readonly own: number
      readonly children: number
    }> = []
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue
      let stat: string
      try {
        stat = readFileSync(`/proc/${entry}/stat`, "utf8")
      } catch {
        continue // exited meanwhile
      }
      const open = stat.indexOf("(")
      const close = stat.lastIndexOf(")")
      if (stat.slice(open + 1, close) !== "postgres") continue
      // after "(comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime
      const rest = stat
        .slice(close + 2)
        .split(" ")
        .map(Number)
      processes.push({
        pid: Number(entry),
        ppid: rest[1] ?? 0,
        own: (rest[11] ?? 0) + (rest[12] ?? 0),
        children: (rest[13] ?? 0) + (rest[14] ?? 0)
      })
    }
    const pids = new Set(processes.map((process) => process.pid))
    const postgres = processes.reduce(
      (sum, process) => sum + process.own + (pids.has(process.ppid) ? 0 : process.children),
      0
    )
    return Option.some({ busy, total: busy + idle + iowait, postgres })
  } catch {
    return Option.none()
  }
}

/** Starts watching the machine's cpus; the returned function says how busy they were since. */
const watchMachine = (): (() => MachineUse) => {
  const startedAt = performance.now()
  const before = cpuTicks()
  return () => {
    const after = cpuTicks()
    const seconds = (performance.now() - startedAt) / 1000
    if (Option.isNone(before) || Option.isNone(after) || after.value.total === before.value.total) {
      return { busy: Number.NaN, cpuSeconds: Number.NaN, postgresSeconds: Number.NaN }
    }
    const cpuSecondsTotal = seconds * os.cpus().length
    // ticks per second, from the ticks all cpus went through (USER_HZ, nearly always 100)
    const hz = (after.value.total - before.value.total) / cpuSecondsTotal
    const busy = (after.value.busy - before.value.busy) / (after.value.total - before.value.total)
    return {
      busy,
      cpuSeconds: busy * cpuSecondsTotal,
      postgresSeconds: (after.value.postgres - before.value.postgres) / hz
    }
  }
}

// ---------------------------------------------------------------------------------------------
// eventline side: N fibers appending for a fixed time

/**
 * `writers` fibers each run `append(writer, index)` one after another until `seconds` have
 * passed (the appends in flight then finish), each append timed.
 */
const runFor = <E, R>(
  writers: number,
  seconds: number,
  append: (writer: number, index: number) => Effect.Effect<unknown, E, R>
): Effect.Effect<AppendSample, E, R> =>
  Effect.suspend(() => {
    const latencies: Array<number> = []
    const machine = watchMachine()
    const cpu = process.cpuUsage()
    const start = performance.now()
    const deadline = start + seconds * 1000
    return Effect.forEach(
      Array.from({ length: writers }, (_, writer) => writer),
      (writer) =>
        Effect.gen(function* () {
          for (let index = 0; performance.now() < deadline; index++) {
            const began = performance.now()
            yield* append(writer, index)
            latencies.push(performance.now() - began)
          }
        }),
      { concurrency: "unbounded", discard: true }
    ).pipe(
      Effect.map(() => {
        const span = performance.now() - start
        const used = process.cpuUsage(cpu)
        return summarize(latencies, span, used.user + used.system, machine())
      })
    )
  })

// ---------------------------------------------------------------------------------------------
// raw side: pgbench

interface Tools {
  readonly pgbench: string
  /** GNU time, to get pgbench's own CPU time; none when missing. */
  readonly time: Option.Option<string>
}

const exec = (file: string, args: ReadonlyArray<string>) =>
  Effect.tryPromise({
    try: (signal) =>
      new Promise<{ readonly stdout: string; readonly stderr: string }>((resolve, reject) =>
        execFile(file, args, { signal, maxBuffer: 1 << 22 }, (error, stdout, stderr) =>
          error === null
            ? resolve({ stdout, stderr })
            : reject(new Error(`${file} ${args.slice(0, 12).join(" ")} ...: ${error.message}\n${stderr}`))
        )
      ),
    catch: (cause) => new BenchFailed({ reason: String(cause) })
  })

const findTools: Effect.Effect<Option.Option<Tools>> = Effect.gen(function* () {
  const pgbench = process.env.PGBENCH || "pgbench"
  const found = yield* exec(pgbench, ["--version"]).pipe(Effect.option)
  if (Option.isNone(found)) return Option.none()
  return Option.some({ pgbench, time: existsSync("/usr/bin/time") ? Option.some("/usr/bin/time") : Option.none() })
})

interface PgbenchScript {
  /** The script file (`-f`). */
  readonly file: string
  /** Its text, shown on stderr once. */
  readonly text: string
  /** Variables every client starts with (`-D name=value`): the constant parameters. */
  readonly defines: ReadonlyArray<readonly [string, string]>
}

/** How long pgbench runs: `-T seconds`, or `-t transactions` per client. */
type Limit = { readonly seconds: number } | { readonly transactions: number }

/** The pgbench command line (without the database), as run. */
const pgbenchArgs = (
  script: PgbenchScript,
  clients: string,
  threads: string,
  limit: Limit,
  logPrefix: string,
  extra: ReadonlyArray<readonly [string, string]>
): Array<string> => [
  "-n",
  "-M",
  "prepared",
  "-c",
  clients,
  "-j",
  threads,
  ...("seconds" in limit ? ["-T", String(limit.seconds)] : ["-t", String(limit.transactions)]),
  "-l",
  `--log-prefix=${logPrefix}`,
  "-f",
  script.file,
  ...[...script.defines, ...extra].flatMap(([name, value]) => ["-D", `${name}=${value}`])
]

/** What one pgbench run measured, before its fixed start-up costs are taken off. */
interface PgbenchRun {
  readonly latencies: Array<number>
  readonly spanMs: number
  /** pgbench's own CPU, µs (GNU time; NaN without it). */
  readonly clientMicros: number
  readonly machine: MachineUse
}

/**
 * One pgbench run; figures from its per-transaction log (`client tx latency_us script epoch us`,
 * one file per thread), CPU from GNU time and /proc. Latencies and the span are computed
 * exactly as on the eventline side. The CPU figures cover the whole process, with its
 * connections' start-up and end (see `lessOverhead`).
 */
const runPgbench = (
  tools: Tools,
  url: string,
  workDir: string,
  script: PgbenchScript,
  clients: number,
  limit: Limit,
  extra: ReadonlyArray<readonly [string, string]>
): Effect.Effect<PgbenchRun, BenchFailed> =>
  Effect.acquireUseRelease(
    Effect.promise(() => mkdtemp(path.join(workDir, "log-"))),
    (logDir) =>
      Effect.gen(function* () {
        const threads = String(Math.min(clients, 2))
        const args = [...pgbenchArgs(script, String(clients), threads, limit, path.join(logDir, "tx"), extra), url]
        const machine = watchMachine()
        const { stderr } = yield* Option.match(tools.time, {
          onNone: () => exec(tools.pgbench, args),
          onSome: (time) => exec(time, ["-f", "%U %S", tools.pgbench, ...args])
        })
        const used = machine()
        const cpuLine = Option.isSome(tools.time) ? (stderr.trim().split("\n").at(-1) ?? "") : ""
        const [userSeconds, systemSeconds] = cpuLine.split(" ").map(Number)
        const clientMicros = ((userSeconds ?? Number.NaN) + (systemSeconds ?? Number.NaN)) * 1e6
        const files = yield* Effect.promise(() => readdir(logDir))
        const latencies: Array<number> = []
        let first = Number.POSITIVE_INFINITY
        let last = Number.NEGATIVE_INFINITY
        let failed = 0
        for (const file of files) {
          const text = yield* Effect.promise(() => readFile(path.join(logDir, file), "utf8"))
          for (const line of text.split("\n")) {
            const fields = line.trim().split(" ")
            if (fields.length < 6) continue
            const latencyMicros = Number(fields[2])
            const endMicros = Number(fields[4]) * 1e6 + Number(fields[5])
            if (!Number.isFinite(latencyMicros) || !Number.isFinite(endMicros)) {
              failed++
              continue
            }
            latencies.push(latencyMicros / 1000)
            first = Math.min(first, endMicros - latencyMicros)
            last = Math.max(last, endMicros)
          }
        }
        if (failed > 0 || latencies.length === 0) {
          return yield* new BenchFailed({
            reason: `pgbench: ${latencies.length} transactions logged, ${failed} failed\n${stderr}`
          })
        }
        return { latencies, spanMs: (last - first) / 1000, clientMicros, machine: used }
      }),
    (logDir) => Effect.promise(() => rm(logDir, { recursive: true, force: true }))
  )

/**
 * A timed pgbench run less the CPU of a one-transaction run (`-t 1`) of the same clients: the
 * fixed cost of starting pgbench and its N backends (fork, authentication, catalog caches,
 * the first prepare) and ending them, which fall outside the logged span of transactions but
 * inside the CPU readings. The eventline side's pool is open before its timing starts.
 */
const lessOverhead = (run: PgbenchRun, overhead: PgbenchRun): AppendSample => {
  const cpuSeconds = Math.max(0, run.machine.cpuSeconds - overhead.machine.cpuSeconds)
  return summarize(run.latencies, run.spanMs, Math.max(0, run.clientMicros - overhead.clientMicros), {
    busy: cpuSeconds / ((run.spanMs / 1000) * os.cpus().length),
    cpuSeconds,
    postgresSeconds: Math.max(0, run.machine.postgresSeconds - overhead.machine.postgresSeconds)
  })
}

/** Serves the store's append statement text in pgbench, see the module comment. */
const serverUuid =
  "(lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') || substr(replace(gen_random_uuid()::text, '-', ''), 13))"

type Captured = readonly [sql: string, params: ReadonlyArray<unknown>]

/** Runs `effect` and hands back the store's append statement it sent, as compiled for the driver. */
const captureAppend = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const captured: Array<Captured> = []
    const record: Statement.Transformer = (self) =>
      Effect.sync(() => {
        captured.push(self.compile())
        return self
      })
    yield* effect.pipe(Effect.provideService(Statement.CurrentTransformer, record))
    const statement = captured.find(([text]) => text.trimStart().startsWith("WITH stream_lock"))
    if (statement === undefined) {
      return yield* new BenchFailed({ reason: "the store's append statement was not seen (appendStatement changed?)" })
    }
    return statement
  })

/**
 * The pgbench script of a captured append: the same text, placeholders replaced (see the module
 * comment). Fails if the statement does not have the expected shape (a changed appendStatement).
 */
const toPgbenchScript = (
  captured: Captured,
  probe: { readonly streamId: string; readonly events: number; readonly expectedVersion: number },
  header: ReadonlyArray<string>,
  footer: ReadonlyArray<string>,
  file: string
) =>
  Effect.gen(function* () {
    const [text, params] = captured
    const uuidParams = new Set([...text.matchAll(/\$(\d+)::uuid/g)].map((match) => Number(match[1])))
    const expectedMatch = /s\.version = \$(\d+)::int/.exec(text)
    const expectedParam = expectedMatch === null ? undefined : Number(expectedMatch[1])
    const defines: Array<readonly [string, string]> = []
    const problems: Array<string> = []
    let streamIds = 0
    const body = text.replace(/\$(\d+)/g, (_, digits: string) => {
      const index = Number(digits)
      const value = params[index - 1]
      if (uuidParams.has(index)) return serverUuid
      if (value === probe.streamId) {
        streamIds++
        return ":sid"
      }
      if (index === expectedParam) {
        if (value !== probe.expectedVersion) problems.push(`$${index} (expected version) is ${String(value)}`)
        return ":cur"
      }
      if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
        problems.push(`$${index} is a ${typeof value}`)
        return `$${index}`
      }
      defines.push([`p${index}`, String(value)])
      return `:p${index}`
    })
    if (uuidParams.size !== probe.events) problems.push(`${uuidParams.size} uuid parameters for ${probe.events} events`)
    if (streamIds < 3) problems.push(`the stream id is bound ${streamIds} times, not 3 or more`)
    if (probe.expectedVersion > 0 !== (expectedParam !== undefined)) problems.push("no/unexpected version check")
    if (problems.length > 0) {
      return yield* new BenchFailed({ reason: `unexpected append statement: ${problems.join("; ")}\n${text}` })
    }
    const script = [...header, `${body.trim()};`, ...footer, ""].join("\n")
    yield* Effect.promise(() => writeFile(file, script))
    return { file, text: script, defines } satisfies PgbenchScript
  })

// ---------------------------------------------------------------------------------------------
// append cases

interface AppendCase {
  readonly key: string
  readonly label: string
  readonly writers: number
  readonly eventsPerAppend: number
  /** Existing streams with Exact(current) (c), or new streams with Exact(0). */
  readonly existing: boolean
}

const makeCase = (
  key: string,
  label: string,
  writers: number,
  eventsPerAppend: number,
  existing: boolean
): AppendCase => ({ key, label, writers, eventsPerAppend, existing })

const appendCases: ReadonlyArray<AppendCase> = [
  makeCase("a1", "(a) k=1 new streams, c=1", 1, 1, false),
  makeCase("a8", "(a) k=1 new streams, c=8", 8, 1, false),
  makeCase("a32", "(a) k=1 new streams, c=32", 32, 1, false),
  makeCase("b", "(b) k=10 new streams, c=8", 8, 10, false),
  makeCase("c", "(c) k=1 existing, Exact, c=8", 8, 1, true)
]

/** The issue's target for eventline/raw (appends/s, and loading vs the same SELECT). */
const target = 0.6

interface AppendResult {
  readonly case: AppendCase
  readonly eventline: ReadonlyArray<AppendSample>
  /** pgbench, plain table. */
  readonly raw: ReadonlyArray<AppendSample>
  /** pgbench, the store's own statement. */
  readonly storeSql: ReadonlyArray<AppendSample>
}

/** pgbench stream ids of (c): numeric, above the random ids of (a)/(b) (at most 2^62). */
let existingBase = 5_000_000_000_000_000_000n

const CountRows = Schema.Array(Schema.Struct({ n: Schema.String }))

/** The raw baseline's table: the event row's columns, a bigserial key, unique (stream_id, version). */
const createRawTable = Effect.flatMap(
  SqlClient.SqlClient,
  (sql) => sql`CREATE TABLE IF NOT EXISTS public.raw_events (
    global_position bigserial PRIMARY KEY,
    stream_id text NOT NULL,
    stream_type text NOT NULL,
    version integer NOT NULL,
    event_id uuid NOT NULL,
    event_type text NOT NULL,
    schema_version integer NOT NULL,
    data jsonb NOT NULL,
    metadata jsonb NOT NULL,
    UNIQUE (stream_id, version)
  )`
)

/** The raw baseline's pgbench script: one INSERT of the batch's k rows into the plain table. */
const rawScript = (appendCase: AppendCase, batch: ReadonlyArray<EventEnvelope.NewEvent>, file: string) =>
  Effect.gen(function* () {
    const defines: Array<readonly [string, string]> = [["stype", streamType]]
    const rows = batch.map((event, index) => {
      defines.push(
        [`t${index}`, event.type],
        [`d${index}`, JSON.stringify(event.data)],
        [`m${index}`, JSON.stringify(event.metadata)]
      )
      const version = appendCase.existing ? `:cur + ${index + 1}` : String(index + 1)
      return `(:sid, :stype, ${version}, ${serverUuid}::uuid, :t${index}, 1, :d${index}, :m${index})`
    })
    const k = appendCase.eventsPerAppend
    const script = [
      appendCase.existing ? "\\set sid :base + :client_id" : "\\set sid random(1, 4611686018427387903)",
      "INSERT INTO public.raw_events (stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)",
      `VALUES ${rows.join(",\n  ")};`,
      ...(appendCase.existing ? [`\\set cur :cur + ${k}`] : []),
      ""
    ].join("\n")
    yield* Effect.promise(() => writeFile(file, script))
    return { file, text: script, defines } satisfies PgbenchScript
  })

/** Where and how long a measured case runs. */
interface CaseContext {
  readonly url: string
  readonly tools: Tools
  readonly workDir: string
  readonly seconds: number
  readonly rounds: Rounds
  readonly tag: string
}

const runAppendCase = (appendCase: AppendCase, context: CaseContext) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const sql = yield* SqlClient.SqlClient
    const { writers, eventsPerAppend: k } = appendCase
    const count = (query: Effect.Effect<ReadonlyArray<unknown>, SqlError.SqlError>) =>
      query.pipe(
        Effect.flatMap(Schema.decodeUnknownEffect(CountRows)),
        Effect.map((rows) => BigInt(rows[0]?.n ?? "0"))
      )
    // one batch per writer, built before timing; the store never mutates what it is given
    const events = makeBatches({ streams: writers, appendsPerStream: 1, eventsPerAppend: k, concurrency: writers }).map(
      (stream) => stream[0] as ReadonlyArray<EventEnvelope.NewEvent>
    )
    const batchOf = (writer: number) => events[writer % events.length] as ReadonlyArray<EventEnvelope.NewEvent>
    const append = (streamId: string, expected: number, batch: ReadonlyArray<EventEnvelope.NewEvent>) =>
      store.append(streamId, ExpectedVersion.exact(expected), batch, { streamType })

    // the statement, as the store sends it for this case
    const probeId = `probe-${appendCase.key}-${context.tag}`
    if (appendCase.existing) yield* append(probeId, 0, batchOf(0))
    const probeVersion = appendCase.existing ? k : 0
    const captured = yield* captureAppend(append(probeId, probeVersion, batchOf(0)))
    const storeScript = yield* toPgbenchScript(
      captured,
      { streamId: probeId, events: k, expectedVersion: probeVersion },
      appendCase.existing
        ? ["\\set sid :base + :client_id"]
        : // a random int64 per transaction: a repeat (which would append nothing) is improbable
          ["\\set sid random(1, 4611686018427387903)"],
      appendCase.existing ? [`\\set cur :cur + ${k}`] : [],
      path.join(context.workDir, `append-${appendCase.key}.sql`)
    )
    const plainScript = yield* rawScript(
      appendCase,
      batchOf(0),
      path.join(context.workDir, `raw-${appendCase.key}.sql`)
    )
    if (appendCase.key === "a1" || appendCase.key === "c") {
      yield* progress(
        `--- pgbench scripts of ${appendCase.label} (constant parameters as -D name=...):\n${plainScript.text}---\n${storeScript.text}---`
      )
    }

    let round = 0
    const ours = Effect.gen(function* () {
      const run = `${context.tag}-${appendCase.key}-${++round}`
      if (!appendCase.existing) {
        return yield* runFor(writers, context.seconds, (writer, index) =>
          append(`${run}-${writer}-${index}`, 0, batchOf(writer))
        )
      }
      const ids = Array.from({ length: writers }, (_, writer) => `${run}-${writer}`)
      yield* Effect.forEach(ids, (id, writer) => append(id, 0, batchOf(writer)), { concurrency: writers })
      return yield* runFor(writers, context.seconds, (writer, index) =>
        append(ids[writer] as string, k * (index + 1), batchOf(writer))
      )
    })
    /** A pgbench run of `script`, checked: rows written = transactions logged x k. */
    const pgbenchRun = (script: PgbenchScript, table: "eventline.events" | "public.raw_events", limit: Limit) =>
      Effect.gen(function* () {
        const extra: Array<readonly [string, string]> = []
        if (appendCase.existing) {
          const base = existingBase
          existingBase += 1000n
          if (table === "eventline.events") {
            const ids = Array.from({ length: writers }, (_, client) => String(base + BigInt(client)))
            yield* Effect.forEach(ids, (id, writer) => append(id, 0, batchOf(writer)), { concurrency: writers })
            extra.push(["cur", String(k)])
          } else {
            extra.push(["cur", "0"])
          }
          extra.push(["base", String(base)])
        }
        const rows = sql(table)
        const before = yield* count(sql`SELECT coalesce(max(global_position), 0)::text AS n FROM ${rows}`)
        const run = yield* runPgbench(context.tools, context.url, context.workDir, script, writers, limit, extra)
        const written = yield* count(
          sql`SELECT count(*)::text AS n FROM ${rows} WHERE global_position > ${before.toString()}::bigint`
        )
        // the store's statement appends nothing, silently, when its expectation fails: check it never did
        if (written !== BigInt(run.latencies.length * k)) {
          return yield* new BenchFailed({
            reason: `pgbench ${appendCase.label} on ${table}: ${run.latencies.length} transactions logged but ${written} rows written`
          })
        }
        return run
      })

    yield* progress(
      `append ${appendCase.label}: pool ${writers + 1}, warm-up, then ${describeRounds(context.rounds)} of ${context.seconds} s per contender`
    )
    yield* runFor(writers, 0.3, (writer, index) =>
      append(`${context.tag}-warm-${appendCase.key}-${writer}-${index}`, 0, batchOf(writer))
    )
    const timedPgbench = (script: PgbenchScript, table: "eventline.events" | "public.raw_events") =>
      Effect.gen(function* () {
        const overhead = yield* pgbenchRun(script, table, { transactions: 1 })
        return Effect.map(pgbenchRun(script, table, { seconds: context.seconds }), (run) => lessOverhead(run, overhead))
      })
    const raw = yield* timedPgbench(plainScript, "public.raw_events")
    const storeSql = yield* timedPgbench(storeScript, "eventline.events")
    const show = (side: string, sample: AppendSample) =>
      progress(
        `  ${side} ${compact(sample.perSecond)}/s p50/p95/p99 ${ms(sample.p50)}/${ms(sample.p95)}/${ms(sample.p99)} ms; ` +
          `cpus ${(sample.machineBusy * 100).toFixed(0)}% busy; µs/append client ${sample.clientCpuMicros.toFixed(0)}, ` +
          `PostgreSQL ${sample.postgresCpuMicros.toFixed(0)}, other ${otherCpuMicros(sample).toFixed(0)}`
      )
    const samples = yield* rotate(context.rounds, {
      raw: Effect.tap(raw, (sample) => show("raw      ", sample)),
      storeSql: Effect.tap(storeSql, (sample) => show("store SQL", sample)),
      eventline: Effect.tap(ours, (sample) => show("eventline", sample))
    })
    return { case: appendCase, ...samples } satisfies AppendResult
  })

// ---------------------------------------------------------------------------------------------
// reading a stream, loading an aggregate

/** ms per operation over a series of runs: p50 and p95. */
interface TimingSample {
  readonly p50: number
  readonly p95: number
}

const timeEach = <E, R>(times: number, effect: Effect.Effect<unknown, E, R>): Effect.Effect<TimingSample, E, R> =>
  Effect.gen(function* () {
    const each: Array<number> = []
    for (let i = 0; i < times; i++) {
      const began = performance.now()
      yield* effect
      each.push(performance.now() - began)
    }
    each.sort((a, b) => a - b)
    return { p50: percentile(each, 0.5), p95: percentile(each, 0.95) }
  })

const CounterCommand = Schema.TaggedUnion({ Increment: { counterId: Schema.String, by: Schema.Int } })
const CounterEvent = Schema.TaggedUnion({ Incremented: { by: Schema.Int } })
type CounterCommand = typeof CounterCommand.Type
type CounterEvent = typeof CounterEvent.Type

const counterDecider: Decider.Decider<CounterCommand, CounterEvent, number> = {
  initialState: 0,
  decide: (command) => Decider.accept(CounterEvent.cases.Incremented.make({ by: command.by })),
  evolve: (value, event) => value + event.by
}

/** A counter without snapshots, and the same counter with a snapshot every 100 events. */
const Counter = Aggregate.make({
  streamType: "BenchCounter",
  decider: counterDecider,
  commands: CounterCommand,
  events: CounterEvent,
  schemaVersion: 1,
  streamId: (command) => command.counterId
})
const SnapshottedCounter = Aggregate.make({
  ...Counter,
  snapshot: { state: Schema.Int, schemaVersion: 1, every: 100 }
})

const streamLength = 1000

/** The columns readStream's page query selects (internal/readSql.ts). */
const eventColumns = `e.global_position, e.transaction_id::text AS transaction_id, e.stream_id, e.stream_type,
  e.version, e.event_id::text AS event_id, e.event_type, e.schema_version, e.data, e.metadata`

const readAndLoad = (options: BenchOptions, tag: string) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const snapshots = yield* SnapshotStore.SnapshotStore
    const sql = yield* SqlClient.SqlClient
    const readRounds: Rounds = options.quick ? { max: 1, budgetSeconds: 0 } : { max: 4, budgetSeconds: 3 }
    const loadRounds: Rounds = options.quick ? { max: 1, budgetSeconds: 0 } : { max: 3, budgetSeconds: 4 }
    const perSample = options.quick ? 5 : 15

    // a 1000-event stream of the append fixtures, in 10 appends of 100
    const readId = `${tag}-read`
    const fixtures = makeBatches({ streams: 1, appendsPerStream: 10, eventsPerAppend: 100, concurrency: 1 })[0] ?? []
    for (const [index, batch] of fixtures.entries()) {
      yield* store.append(readId, ExpectedVersion.exact(index * 100), batch, { streamType })
    }
    const pageSize = EventStore.defaultBatchSize
    const columns = sql.literal(eventColumns)
    const events = sql("eventline.events")
    // readStream's own page query, raw: no head lookup, no decoding, rows only counted
    const rawRead = Effect.gen(function* () {
      let count = 0
      for (let next = 1; next <= streamLength; ) {
        const rows = yield* sql`SELECT ${columns} FROM ${events} e
          WHERE e.stream_id = ${readId} AND e.version >= ${next} AND e.version <= ${streamLength}
          ORDER BY e.version LIMIT ${pageSize}`
        count += rows.length
        if (rows.length < pageSize) break
        next += rows.length
      }
      if (count !== streamLength) return yield* new BenchFailed({ reason: `raw read saw ${count} rows` })
    })
    const storeRead = Stream.runCount(store.readStream(readId)).pipe(
      Effect.flatMap((count) =>
        count === streamLength ? Effect.void : Effect.fail(new BenchFailed({ reason: `readStream saw ${count}` }))
      )
    )
    yield* progress(`read ${streamLength}-event stream: ${perSample} reads per side, ${describeRounds(readRounds)}`)
    yield* rawRead
    yield* storeRead
    const reads = yield* alternate({
      rounds: readRounds,
      baseline: () => timeEach(perSample, rawRead),
      eventline: () => timeEach(perSample, storeRead)
    })

    // two counters of 1000 events: one with a snapshot at its head, one 99 events behind
    // (the most a tail can be with a snapshot every 100)
    const counterEvents = (from: number, count: number): Array<EventEnvelope.NewEvent> =>
      Array.from({ length: count }, (_, index) => ({
        type: "Incremented",
        schemaVersion: 1,
        data: { by: ((from + index) % 7) + 1 },
        metadata: { correlationId: `corr-${tag}`, occurredAt: "2026-01-01T00:00:00.000Z" }
      }))
    const sumTo = (version: number) => {
      let sum = 0
      for (let index = 0; index < version; index++) sum += (index % 7) + 1
      return sum
    }
    const counters = { head: `${tag}-counter-head`, tail: `${tag}-counter-tail` }
    for (const [id, snapshotAt] of [
      [counters.head, streamLength],
      [counters.tail, streamLength - 99]
    ] as const) {
      for (let version = 0; version < streamLength; version += 100) {
        yield* store.append(id, ExpectedVersion.exact(version), counterEvents(version, 100), {
          streamType: Counter.streamType
        })
      }
      yield* snapshots.save({
        streamId: id,
        streamType: Counter.streamType,
        version: snapshotAt,
        schemaVersion: 1,
        state: sumTo(snapshotAt)
      })
    }
    const expect = (loaded: CommandHandler.Loaded<number>, snapshotVersion: number) =>
      loaded.state === sumTo(streamLength) &&
      loaded.version === streamLength &&
      loaded.snapshotVersion === snapshotVersion
        ? Effect.void
        : Effect.fail(new BenchFailed({ reason: `unexpected load: ${JSON.stringify(loaded)}` }))
    const loads = {
      replay: CommandHandler.load(Counter, counters.head).pipe(Effect.flatMap((loaded) => expect(loaded, 0))),
      atHead: CommandHandler.load(SnapshottedCounter, counters.head).pipe(
        Effect.flatMap((loaded) => expect(loaded, streamLength))
      ),
      tail99: CommandHandler.load(SnapshottedCounter, counters.tail).pipe(
        Effect.flatMap((loaded) => expect(loaded, streamLength - 99))
      )
    }
    yield* progress(
      `load ${streamLength}-event counter: ${perSample} loads per contender, ${describeRounds(loadRounds)}`
    )
    yield* Effect.forEach(Object.values(loads), (load) => load, { discard: true })
    const loaded = yield* rotate(loadRounds, {
      replay: timeEach(perSample, loads.replay),
      atHead: timeEach(perSample, loads.atHead),
      tail99: timeEach(perSample, loads.tail99)
    })
    return { reads, loaded }
  })

const shortStream = 100

/**
 * Loading a 100-event aggregate (CommandHandler.load: head lookup, page, decode, fold), one load
 * after another, vs the same page SELECT in pgbench (1 client: what PostgreSQL can do) and
 * through this process's driver (rows only counted). Samples in loads per second.
 */
const loadShort = (context: CaseContext) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const sql = yield* SqlClient.SqlClient
    const streamId = `${context.tag}-short`
    yield* store.append(
      streamId,
      ExpectedVersion.NoStream,
      Array.from({ length: shortStream }, (_, index) => ({
        type: "Incremented",
        schemaVersion: 1,
        data: { by: (index % 7) + 1 },
        metadata: { correlationId: `corr-${context.tag}`, occurredAt: "2026-01-01T00:00:00.000Z" }
      })),
      { streamType: Counter.streamType }
    )
    const expected = Array.from({ length: shortStream }, (_, index) => (index % 7) + 1).reduce((a, b) => a + b, 0)
    const load = CommandHandler.load(Counter, streamId).pipe(
      Effect.flatMap((loaded) =>
        loaded.state === expected && loaded.version === shortStream
          ? Effect.void
          : Effect.fail(new BenchFailed({ reason: `unexpected load: ${JSON.stringify(loaded)}` }))
      )
    )
    const select = `SELECT ${eventColumns} FROM eventline.events e
  WHERE e.stream_id = :sid AND e.version >= 1 AND e.version <= ${shortStream}
  ORDER BY e.version LIMIT ${EventStore.defaultBatchSize}`
    const driverSelect = sql
      .unsafe(select.replace(":sid", "$1"), [streamId])
      .pipe(
        Effect.flatMap((rows) =>
          rows.length === shortStream
            ? Effect.void
            : Effect.fail(new BenchFailed({ reason: `SELECT saw ${rows.length}` }))
        )
      )
    const file = path.join(context.workDir, "load-short.sql")
    yield* Effect.promise(() => writeFile(file, `${select};\n`))
    const script: PgbenchScript = { file, text: select, defines: [["sid", streamId]] }
    const overhead = yield* runPgbench(context.tools, context.url, context.workDir, script, 1, { transactions: 1 }, [])
    const raw = Effect.map(
      runPgbench(context.tools, context.url, context.workDir, script, 1, { seconds: context.seconds }, []),
      (run) => lessOverhead(run, overhead)
    )
    yield* progress(
      `load a ${shortStream}-event stream: ${describeRounds(context.rounds)} of ${context.seconds} s each`
    )
    yield* runFor(1, 0.3, () => Effect.andThen(load, driverSelect))
    const contenders = {
      raw,
      driver: runFor(1, context.seconds, () => driverSelect),
      eventline: runFor(1, context.seconds, () => load)
    }
    type Contender = (typeof contenders)[keyof typeof contenders]
    return yield* rotate<keyof typeof contenders, Effect.Error<Contender>, Effect.Services<Contender>, AppendSample>(
      context.rounds,
      contenders
    )
  })

// ---------------------------------------------------------------------------------------------
// report

const spread = (values: ReadonlyArray<number>) => ({
  median: median(values),
  min: Math.min(...values),
  max: Math.max(...values),
  count: values.length
})

const range = (figures: ReturnType<typeof spread>): string =>
  figures.count > 1
    ? `${figures.median.toFixed(2)}x [${figures.min.toFixed(2)}-${figures.max.toFixed(2)}]`
    : `${figures.median.toFixed(2)}x`

const appendCell = (samples: ReadonlyArray<AppendSample>, k: number): string => {
  const rate = median(samples.map((sample) => sample.perSecond))
  const events = k > 1 ? ` (${compact(rate * k)} ev/s)` : ""
  const pick = (get: (sample: AppendSample) => number) => ms(median(samples.map(get)))
  return `${compact(rate)}/s${events} ${pick((s) => s.p50)}/${pick((s) => s.p95)}/${pick((s) => s.p99)} ms`
}

/** eventline vs one pgbench contender, per round: appends/s and p95 ratios. */
const versus = (ours: ReadonlyArray<AppendSample>, theirs: ReadonlyArray<AppendSample>) => {
  const pairs = ours.map((sample, index) => [sample, theirs[index] as AppendSample] as const)
  return {
    throughput: spread(pairs.map(([a, b]) => a.perSecond / b.perSecond)),
    p95: spread(pairs.map(([a, b]) => a.p95 / b.p95))
  }
}

/** Node CPU per append (and per event when k > 1), median over rounds. */
const nodeCpu = (samples: ReadonlyArray<AppendSample>, k: number): string => {
  const micros = median(samples.map((sample) => sample.clientCpuMicros))
  return `${micros.toFixed(0)} µs CPU/append${k > 1 ? ` (${(micros / k).toFixed(1)}/event)` : ""}`
}

/** Two rows per case: vs the raw plain-table INSERT (the baseline that counts), vs the store's SQL. */
const appendRows = (result: AppendResult): ReadonlyArray<ReportRow> => {
  const k = result.case.eventsPerAppend
  const raw = versus(result.eventline, result.raw)
  const storeSql = versus(result.eventline, result.storeSql)
  const met = raw.throughput.median >= target ? "MET" : "MISSED"
  return [
    {
      benchmark: result.case.label,
      eventline: `${appendCell(result.eventline, k)}; ${nodeCpu(result.eventline, k)}`,
      baseline: `raw ${appendCell(result.raw, k)}`,
      ratio: `/s ${range(raw.throughput)} p95 ${range(raw.p95)} n=${raw.throughput.count}`,
      meaning: `target >= ${target} of raw: ${met} (${raw.throughput.median.toFixed(2)}); p95 ${raw.p95.median.toFixed(1)}x raw's`
    },
    {
      benchmark: "  same, vs the store's SQL in pgbench",
      eventline: "",
      baseline: `store SQL ${appendCell(result.storeSql, k)}`,
      ratio: `/s ${range(storeSql.throughput)} p95 ${range(storeSql.p95)} n=${storeSql.throughput.count}`,
      meaning: `Node's overhead over our own statement: ${(storeSql.throughput.median * 100).toFixed(0)}% of its appends/s`
    }
  ]
}

/** CPU µs per append of everything but PostgreSQL and the client: other work on the machine. */
const otherCpuMicros = (sample: AppendSample): number =>
  sample.machineCpuMicros - sample.postgresCpuMicros - sample.clientCpuMicros

/** A round ran on a quiet machine when other processes took under 25% of its CPU. */
const isQuiet = (sample: AppendSample): boolean => otherCpuMicros(sample) < 0.25 * sample.machineCpuMicros

const quietNote = (result: AppendResult): string => {
  const quiet = result.eventline
    .map((sample, index) => [sample, result.raw[index] as AppendSample] as const)
    .filter(([ours, raw]) => isQuiet(ours) && isQuiet(raw))
  const label = `${result.case.key} ${quiet.length}/${result.eventline.length}`
  return quiet.length === 0
    ? label
    : `${label} ${median(quiet.map(([ours, raw]) => ours.perSecond / raw.perSecond)).toFixed(2)}x`
}

const cpuNote = (result: AppendResult): string => {
  const micros = (samples: ReadonlyArray<AppendSample>, get: (sample: AppendSample) => number) => {
    const value = median(samples.map(get))
    return Number.isNaN(value) ? "?" : value.toFixed(0)
  }
  const all = (get: (sample: AppendSample) => number) =>
    `${micros(result.eventline, get)} / ${micros(result.raw, get)} / ${micros(result.storeSql, get)}`
  return (
    `${result.case.label}: CPU µs per append, eventline / raw / store SQL: client (node or pgbench) ${all((s) => s.clientCpuMicros)}; ` +
    `PostgreSQL ${all((s) => s.postgresCpuMicros)}; other processes ${all(otherCpuMicros)}; whole machine ${all((s) => s.machineCpuMicros)}`
  )
}

const timingCell = (samples: ReadonlyArray<TimingSample>): string =>
  `${ms(median(samples.map((sample) => sample.p50)))}/${ms(median(samples.map((sample) => sample.p95)))} ms`

const timingRow = (
  benchmark: string,
  eventline: ReadonlyArray<TimingSample>,
  baseline: ReadonlyArray<TimingSample>,
  meaning: (p50: number) => string
): ReportRow => {
  const pairs = eventline.map((sample, index) => [sample, baseline[index] as TimingSample] as const)
  const p50 = spread(pairs.map(([ours, other]) => ours.p50 / other.p50))
  const p95 = spread(pairs.map(([ours, other]) => ours.p95 / other.p95))
  return {
    benchmark,
    eventline: timingCell(eventline),
    baseline: timingCell(baseline),
    ratio: `p50 ${range(p50)} p95 ${range(p95)} n=${p50.count}`,
    meaning: meaning(p50.median)
  }
}

// ---------------------------------------------------------------------------------------------
// the benchmark

/** `PgStore.layer` as an application would build it: N writers on a pool of N+1 connections. */
const storeLayer = (url: string, connections: number) =>
  PgStore.layer({ url: Redacted.make(url), maxConnections: connections, minConnections: connections })

const workDirectory: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(path.join(os.tmpdir(), "eventline-pgbench-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

const ratioCell = (ours: ReadonlyArray<AppendSample>, theirs: ReadonlyArray<AppendSample>) => {
  const { throughput } = versus(ours, theirs)
  return { text: `/s ${range(throughput)} n=${throughput.count}`, median: throughput.median }
}

export const run = (options: BenchOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const url = yield* throwawayDatabase(options.adminUrl)
      const workDir = yield* workDirectory
      const tag = `lat${Date.now().toString(36)}`
      yield* Effect.provide(
        Effect.andThen(Migrations.run, createRawTable),
        PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })
      )
      const tools = yield* findTools
      const seconds = 1
      const rounds: Rounds = options.quick ? { max: 1, budgetSeconds: 0 } : { max: 6, budgetSeconds: 14 }
      const rows: Array<ReportRow> = []
      const notes: Array<string> = []

      if (Option.isNone(tools)) {
        rows.push(skippedRow("append latency vs pgbench", "pgbench not found (set PGBENCH)"))
      } else {
        const results: Array<AppendResult> = []
        // `--cases=a32,c` runs only those append cases (for a closer look; the report then lacks the rest)
        const only = process.argv
          .find((arg) => arg.startsWith("--cases="))
          ?.slice("--cases=".length)
          .split(",")
        const context = { url, tools: tools.value, workDir, seconds, rounds, tag }
        for (const appendCase of appendCases.filter((entry) => only === undefined || only.includes(entry.key))) {
          const result = yield* runAppendCase(appendCase, context).pipe(
            Effect.provide(storeLayer(url, appendCase.writers + 1))
          )
          results.push(result)
        }
        rows.push(...results.flatMap(appendRows))
        const loads = yield* loadShort(context).pipe(Effect.provide(storeLayer(url, 2)))
        const loadRate = (samples: ReadonlyArray<AppendSample>) =>
          `${compact(median(samples.map((sample) => sample.perSecond)) * shortStream)} ev/s`
        const vsRaw = ratioCell(loads.eventline, loads.raw)
        const vsDriver = ratioCell(loads.eventline, loads.driver)
        rows.push(
          {
            benchmark: `load and fold a ${shortStream}-event stream, sequential`,
            eventline: `${loadRate(loads.eventline)}; ${median(loads.eventline.map((s) => s.clientCpuMicros)).toFixed(0)} µs CPU/load`,
            baseline: `raw ${loadRate(loads.raw)} (the same SELECT)`,
            ratio: vsRaw.text,
            meaning: `target >= ${target} of raw: ${vsRaw.median >= target ? "MET" : "MISSED"} (${vsRaw.median.toFixed(2)})`
          },
          {
            benchmark: "  same, vs the SELECT through the driver",
            eventline: "",
            baseline: `driver ${loadRate(loads.driver)}`,
            ratio: vsDriver.text,
            meaning: "decoding and folding over the driver's own cost"
          }
        )
        notes.push(
          `appends: cells are appends/s, then p50/p95/p99 ms of one append, then this node process's CPU per append (process.cpuUsage); ratio = eventline/pgbench per round (appends/s: <1 is slower; p95: >1 is slower). Each contender runs ${seconds} s per round (time-bound), the order rotated every round, medians over rounds.`,
          `appends, raw = pgbench ${pgbenchArgs({ file: "raw-<case>.sql", text: "", defines: [] }, "N", "min(N,2)", { seconds }, "<tmp>/tx", []).join(" ")} -D ... <db>: one INSERT of the append's k rows (the same type, data and metadata as the store's) into public.raw_events (bigserial key, UNIQUE (stream_id, version)), autocommit; event ids made in SQL, time-ordered. Store SQL = the same pgbench on the store's append statement captured from a probe append (scripts shown on stderr). Each pgbench run is checked: rows written = transactions logged x k.`,
          "appends: eventline = EventStore.append of PgStore.layer in this node process (validation, UUIDv7s, JSON.stringify, row decoding, Effect fibers; the NOTIFY after commit, coalesced; the LISTEN on its own connection), N fibers on a pool of N+1 connections; pgbench is C and sends only the statement. All share the machine's cpus with PostgreSQL.",
          `load: CommandHandler.load of a ${shortStream}-event counter without snapshots (head lookup, one page, decode, fold), one after another; raw = pgbench -c 1 running the page SELECT; driver = the same SELECT through @effect/sql-pg in this process, rows only counted. Loads (or SELECTs) per second x ${shortStream}.`,
          ...results.map(cpuNote),
          rounds.max > 1
            ? `append noise: raw pgbench's appends/s, max/min over its rounds: ${results
                .map((result) => {
                  const rates = result.raw.map((sample) => sample.perSecond)
                  return `${result.case.key} ${(Math.max(...rates) / Math.min(...rates)).toFixed(2)}`
                })
                .join(
                  ", "
                )} (1.00 = steady). "other processes" above is CPU the machine spent outside PostgreSQL and the client: other work on the box.`
            : 'append noise: one round per case (--quick): no spread to show; compare the "other processes" CPU above.',
          `appends, rounds where other processes took under 25% of the machine's CPU for eventline and raw ("quiet"), and the eventline/raw ratio over those alone: ${results.map(quietNote).join(", ")}. The table's ratio is over all rounds.`
        )
      }

      const { reads, loaded } = yield* readAndLoad(options, tag).pipe(Effect.provide(storeLayer(url, 2)))
      rows.push(
        timingRow(
          `read ${streamLength}-event stream (readStream)`,
          reads.eventline,
          reads.baseline,
          (p50) => `readStream takes ${p50.toFixed(1)}x the raw keyset SELECTs`
        ),
        timingRow(
          `load counter, snapshot at head (tail 0)`,
          loaded.atHead,
          loaded.replay,
          (p50) => `with/without snapshot: ${(1 / p50).toFixed(0)}x faster than replaying ${streamLength}`
        ),
        timingRow(
          `load counter, snapshot 99 behind`,
          loaded.tail99,
          loaded.replay,
          (p50) => `with/without snapshot: ${(1 / p50).toFixed(1)}x faster than replaying ${streamLength}`
        )
      )
      notes.push(
        `read: ms per full read of a ${streamLength}-event stream, p50/p95; eventline = Stream.runCount(readStream) (a head lookup, then pages of ${EventStore.defaultBatchSize}, rows decoded into RecordedEvent); baseline = the same page SELECTs through the same driver, rows only counted.`,
        `load: ms per CommandHandler.load of a ${streamLength}-event counter, p50/p95; eventline = with a snapshot (policy every 100), baseline = the same aggregate without a snapshot policy (full replay: read + decode + fold ${streamLength} events). The snapshot row was written first.`
      )
      return { title: "PostgreSQL append latency", rows, notes } satisfies Section
    })
  )

if (import.meta.main) {
  NodeRuntime.runMain(
    Effect.gen(function* () {
      const options = parseOptions(process.argv.slice(2), process.env)
      const started = performance.now()
      const loadAtStart = os.loadavg()[0] ?? 0
      const version = yield* serverVersion(options.adminUrl)
      if (Option.isNone(version)) {
        return yield* Effect.sync(() => process.stdout.write("SKIP: PostgreSQL unreachable (set DATABASE_URL)\n"))
      }
      const section = yield* run(options)
      const loadAtEnd = os.loadavg()[0] ?? 0
      const cpus = os.cpus()
      const report = [
        "",
        `Eventline append latency vs pgbench${options.quick ? " (--quick)" : ""}: PostgreSQL ${version.value}, node ${process.version}`,
        `machine: ${cpus.length} cpus (${cpus[0]?.model.trim() ?? "unknown"}); 1-min load avg ${loadAtStart.toFixed(1)} at start, ${loadAtEnd.toFixed(1)} at end; total ${((performance.now() - started) / 1000).toFixed(1)} s`,
        "",
        table(section.rows),
        "",
        ...section.notes.map((note) => `- ${note}`),
        ""
      ].join("\n")
      yield* Effect.sync(() => process.stdout.write(report))
    })
  )
}
