/**
 * Benchmark 5: append throughput AND latency (p50/p95/p99) on PostgreSQL against pgbench running
 * the store's own SQL, plus reading a 1000-event stream and loading an aggregate with and
 * without a snapshot. Part of `npm run bench`; alone: `node scripts/bench/appendLatency.ts [--quick]`.
 *
 * Appends, each side for a fixed time per round (time-bound, not a fixed workload):
 *   (a) one event per append to new streams (Exact(0)), 1, 8 and 32 concurrent writers
 *   (b) ten events per append to new streams, 8 writers
 *   (c) one event per append to existing streams with Exact(current version), 8 writers, each
 *       writer on its own stream (no conflicts)
 * Eventline: `PgEventStore.append` in this process, N fibers on a pool of N connections, each
 * append timed. Raw: pgbench (C) with N clients (`-c N -j min(N,2) -T s -M prepared -l`), per-
 * transaction log parsed for the same figures.
 *
 * The pgbench script IS the store's statement: each case first makes one probe append through
 * the store with a statement transformer (effect/sql `CurrentTransformer`) that records the
 * compiled SQL text and parameters the driver is given. That text is written to the script
 * unchanged except for its placeholders: constant parameters become `-D pN=value` variables (sent
 * as bound parameters, as the store sends them), the stream id becomes `:sid` (a random int64
 * per transaction for new streams; `:base + :client_id` for existing ones), the expected version
 * of (c) becomes `:cur` (a per-client counter: `\set cur :cur + 1` after each append), and each
 * event id, a bound uuid in the store, becomes a uuid made by the server in the statement
 * (12 hex digits of the clock's milliseconds + 20 random ones: time-ordered like the store's
 * UUIDv7, so the event_id index sees the same right-leaning inserts).
 *
 * Rounds alternate ABBA (pgbench first on even rounds); figures are medians over rounds, ratios
 * the median of per-round ratios with their range (the noise, shown). Each run also records CPU
 * per append: this process or pgbench (GNU time, less a one-transaction run's start-up cost),
 * PostgreSQL's processes and the whole machine (/proc), so the report can say where the time
 * went and whether other work on the box disturbed a round.
 *
 * Diagnostics at 32 writers (full runs): pgbench with the same statement minus its NOTIFY CTE
 * (what the in-transaction NOTIFY costs raw), and the store with `notifyMode: "after-commit"`,
 * both against pgbench with the NOTIFY in the same rotation.
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
import * as PgEventStore from "@eventline/postgres/PgEventStore"
import * as PgSnapshotStore from "@eventline/postgres/PgSnapshotStore"
import * as PgStoreConfig from "@eventline/postgres/PgStoreConfig"
import { Effect, Layer, Option, Redacted, Schema, type Scope, Stream } from "effect"
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
  /** The issue's target for eventline/raw appends per second, if any. */
  readonly target: Option.Option<number>
  /**
   * Full runs: also pgbench without the statement's NOTIFY (what the NOTIFY costs raw), and the
   * store with `notifyMode: "after-commit"` (its NOTIFY sent after the commit, coalesced).
   */
  readonly diagnose: boolean
}

const makeCase = (
  key: string,
  label: string,
  writers: number,
  eventsPerAppend: number,
  existing: boolean,
  target?: number
): AppendCase => ({
  key,
  label,
  writers,
  eventsPerAppend,
  existing,
  target: Option.fromNullishOr(target),
  diagnose: key === "a32"
})

const appendCases: ReadonlyArray<AppendCase> = [
  makeCase("a1", "(a) k=1 new streams, c=1", 1, 1, false),
  makeCase("a8", "(a) k=1 new streams, c=8", 8, 1, false),
  makeCase("a32", "(a) k=1 new streams, c=32", 32, 1, false, 0.6),
  makeCase("b", "(b) k=10 new streams, c=8", 8, 10, false, 0.8),
  makeCase("c", "(c) k=1 existing, Exact, c=8", 8, 1, true)
]

interface Paired {
  readonly eventline: ReadonlyArray<AppendSample>
  readonly baseline: ReadonlyArray<AppendSample>
}

interface AppendResult extends Paired {
  readonly case: AppendCase
  /** The diagnostics, each against pgbench with the NOTIFY in the same rotation. */
  readonly diagnostics: Option.Option<{
    /** pgbench without the NOTIFY. */
    readonly withoutNotify: Paired
    /** PgEventStore.append with `notifyMode: "after-commit"`. */
    readonly afterCommit: Paired
  }>
}

/** The captured statement without its NOTIFY: the `notified` CTE selects 1 instead. */
const withoutNotify = ([text, params]: Captured): Effect.Effect<Captured, BenchFailed> => {
  const pattern = /notified AS \(\s*SELECT pg_notify\([\s\S]*?\) FROM inserted HAVING count\(\*\) > 0[^\n)]*\s*\)/
  return pattern.test(text)
    ? Effect.succeed([text.replace(pattern, "notified AS (SELECT 1 FROM inserted HAVING count(*) > 0)"), params])
    : Effect.fail(new BenchFailed({ reason: "the append statement's NOTIFY was not found" }))
}

/** pgbench stream ids of (c): numeric, above the random ids of (a)/(b) (at most 2^62). */
let existingBase = 5_000_000_000_000_000_000n

const CountRows = Schema.Array(Schema.Struct({ n: Schema.String }))

const runAppendCase = (
  appendCase: AppendCase,
  context: {
    readonly url: string
    readonly tools: Tools
    readonly workDir: string
    readonly seconds: number
    readonly rounds: Rounds
    /** Rounds of the NOTIFY diagnostic, none in quick runs. */
    readonly diagnosticRounds: Option.Option<Rounds>
    readonly tag: string
  }
) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const sql = yield* SqlClient.SqlClient
    const { writers, eventsPerAppend: k } = appendCase
    const single = (query: Effect.Effect<ReadonlyArray<unknown>, SqlError.SqlError>) =>
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
    const scriptOf = (statement: Captured, name: string) =>
      toPgbenchScript(
        statement,
        { streamId: probeId, events: k, expectedVersion: probeVersion },
        appendCase.existing
          ? ["\\set sid :base + :client_id"]
          : // a random int64 per transaction: a repeat (which would append nothing) is improbable
            ["\\set sid random(1, 4611686018427387903)"],
        appendCase.existing ? [`\\set cur :cur + ${k}`] : [],
        path.join(context.workDir, `${name}.sql`)
      )
    const script = yield* scriptOf(captured, `append-${appendCase.key}`)
    if (appendCase.key === "a1" || appendCase.key === "c") {
      yield* Effect.sync(() =>
        process.stderr.write(
          `\n--- pgbench script of ${appendCase.label} (constant parameters as -D pN=...):\n${script.text}---\n`
        )
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
    const rawRun = (limit: Limit, which: PgbenchScript = script) =>
      Effect.gen(function* () {
        const extra: Array<readonly [string, string]> = []
        if (appendCase.existing) {
          const base = existingBase
          existingBase += 1000n
          const ids = Array.from({ length: writers }, (_, client) => String(base + BigInt(client)))
          yield* Effect.forEach(ids, (id, writer) => append(id, 0, batchOf(writer)), { concurrency: writers })
          extra.push(["base", String(base)], ["cur", String(k)])
        }
        const before = yield* single(sql`SELECT coalesce(max(global_position), 0)::text AS n FROM eventline.events`)
        const run = yield* runPgbench(context.tools, context.url, context.workDir, which, writers, limit, extra)
        const written = yield* single(
          sql`SELECT count(*)::text AS n FROM eventline.events WHERE global_position > ${before.toString()}::bigint`
        )
        // the statement appends nothing, silently, when its expectation fails: check it never did
        if (written !== BigInt(run.latencies.length * k)) {
          return yield* new BenchFailed({
            reason: `pgbench ${appendCase.label}: ${run.latencies.length} appends logged but ${written} events written`
          })
        }
        return run
      })

    yield* progress(
      `append latency ${appendCase.label}: pool ${writers}, warm-up, then ${describeRounds(context.rounds)} of ${context.seconds} s per side`
    )
    yield* runFor(writers, 0.3, (writer, index) =>
      append(`${context.tag}-warm-${appendCase.key}-${writer}-${index}`, 0, batchOf(writer))
    )
    const overhead = yield* rawRun({ transactions: 1 })
    const raw = Effect.map(rawRun({ seconds: context.seconds }), (run) => lessOverhead(run, overhead))
    const show = (side: string, sample: AppendSample) =>
      progress(
        `  ${side} ${compact(sample.perSecond)}/s p50/p95/p99 ${ms(sample.p50)}/${ms(sample.p95)}/${ms(sample.p99)} ms; ` +
          `cpus ${(sample.machineBusy * 100).toFixed(0)}% busy; µs/append client ${sample.clientCpuMicros.toFixed(0)}, ` +
          `PostgreSQL ${sample.postgresCpuMicros.toFixed(0)}, other ${otherCpuMicros(sample).toFixed(0)}`
      )
    const samples = yield* alternate({
      rounds: context.rounds,
      baseline: () => Effect.tap(raw, (sample) => show("pgbench  ", sample)),
      eventline: () => Effect.tap(ours, (sample) => show("eventline", sample))
    })
    const diagnosticRounds = appendCase.diagnose ? context.diagnosticRounds : Option.none()
    if (Option.isNone(diagnosticRounds)) {
      return { case: appendCase, ...samples, diagnostics: Option.none() } satisfies AppendResult
    }
    const quiet = yield* scriptOf(yield* withoutNotify(captured), `append-${appendCase.key}-no-notify`)
    const config = yield* PgStoreConfig.PgStoreConfig
    return yield* Effect.scoped(
      Effect.gen(function* () {
        // a second store on the same pool, its NOTIFY after the commit (a fiber of this scope)
        const afterCommit = yield* PgEventStore.make.pipe(
          Effect.provideService(PgStoreConfig.PgStoreConfig, { ...config, notifyMode: "after-commit" })
        )
        let diagnosticRound = 0
        const oursAfterCommit = Effect.suspend(() => {
          const run = `${context.tag}-${appendCase.key}-after-commit-${++diagnosticRound}`
          return runFor(writers, context.seconds, (writer, index) =>
            afterCommit.append(`${run}-${writer}-${index}`, ExpectedVersion.exact(0), batchOf(writer), { streamType })
          )
        })
        yield* progress(
          `  diagnostics: pgbench without the NOTIFY, and the store with notifyMode "after-commit", vs pgbench with it, ${describeRounds(diagnosticRounds.value)}`
        )
        yield* runFor(writers, 0.3, (writer, index) =>
          afterCommit.append(`${context.tag}-warm-ac-${writer}-${index}`, ExpectedVersion.exact(0), batchOf(writer), {
            streamType
          })
        )
        const diagnostic = yield* rotate(diagnosticRounds.value, {
          raw: Effect.tap(raw, (sample) => show("pgbench  ", sample)),
          quiet: Effect.tap(
            Effect.map(rawRun({ seconds: context.seconds }, quiet), (run) => lessOverhead(run, overhead)),
            (sample) => show("no NOTIFY", sample)
          ),
          afterCommit: Effect.tap(oursAfterCommit, (sample) => show("eventline after-commit", sample))
        })
        return {
          case: appendCase,
          ...samples,
          diagnostics: Option.some({
            withoutNotify: { eventline: diagnostic.quiet, baseline: diagnostic.raw },
            afterCommit: { eventline: diagnostic.afterCommit, baseline: diagnostic.raw }
          })
        } satisfies AppendResult
      })
    )
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
    const columns =
      sql.literal(`e.global_position, e.transaction_id::text AS transaction_id, e.stream_id, e.stream_type,
      e.version, e.event_id::text AS event_id, e.event_type, e.schema_version, e.data, e.metadata`)
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

const appendRow = (result: AppendResult): ReportRow => {
  const { eventline, baseline } = result
  const pairs = eventline.map((sample, index) => [sample, baseline[index] as AppendSample] as const)
  const throughput = spread(pairs.map(([ours, raw]) => ours.perSecond / raw.perSecond))
  const p95 = spread(pairs.map(([ours, raw]) => ours.p95 / raw.p95))
  const meaning = Option.match(result.case.target, {
    onNone: () => `${(throughput.median * 100).toFixed(0)}% of raw appends/s, p95 ${p95.median.toFixed(1)}x raw's`,
    onSome: (target) =>
      `target >= ${target} of raw: ${throughput.median >= target ? "MET" : "MISSED"} (${throughput.median.toFixed(2)}); p95 ${p95.median.toFixed(1)}x raw's`
  })
  return {
    benchmark: `${result.case.label}`,
    eventline: appendCell(eventline, result.case.eventsPerAppend),
    baseline: appendCell(baseline, result.case.eventsPerAppend),
    ratio: `/s ${range(throughput)} p95 ${range(p95)} n=${throughput.count}`,
    meaning
  }
}

/** CPU µs per append of everything but PostgreSQL and the client: other work on the machine. */
const otherCpuMicros = (sample: AppendSample): number =>
  sample.machineCpuMicros - sample.postgresCpuMicros - sample.clientCpuMicros

/** A diagnostic row: a variant against pgbench with the NOTIFY, in the same rotation. */
const diagnosticRow = (appendCase: AppendCase, label: string, paired: Paired, what: string): ReportRow => {
  const pairs = paired.eventline.map((sample, index) => [sample, paired.baseline[index] as AppendSample] as const)
  const throughput = spread(pairs.map(([quiet, raw]) => quiet.perSecond / raw.perSecond))
  const p95 = spread(pairs.map(([quiet, raw]) => quiet.p95 / raw.p95))
  return {
    benchmark: `  diag: ${label}, c=${appendCase.writers}`,
    eventline: appendCell(paired.eventline, appendCase.eventsPerAppend),
    baseline: appendCell(paired.baseline, appendCase.eventsPerAppend),
    ratio: `/s ${range(throughput)} p95 ${range(p95)} n=${throughput.count}`,
    meaning: `${what}: ${throughput.median.toFixed(1)}x the appends/s of pgbench with the NOTIFY`
  }
}

/** A round ran on a quiet machine when other processes took under 25% of its CPU. */
const isQuiet = (sample: AppendSample): boolean => otherCpuMicros(sample) < 0.25 * sample.machineCpuMicros

const quietNote = (result: AppendResult): string => {
  const quiet = result.eventline
    .map((sample, index) => [sample, result.baseline[index] as AppendSample] as const)
    .filter(([ours, raw]) => isQuiet(ours) && isQuiet(raw))
  const label = `${result.case.key} ${quiet.length}/${result.eventline.length}`
  return quiet.length === 0
    ? label
    : `${label} ${median(quiet.map(([ours, raw]) => ours.perSecond / raw.perSecond)).toFixed(2)}x`
}

const cpuNote = (result: AppendResult): string => {
  const of = (samples: ReadonlyArray<AppendSample>, get: (sample: AppendSample) => number) => median(samples.map(get))
  const micros = (value: number) => (Number.isNaN(value) ? "?" : value.toFixed(0))
  const percent = (value: number) => (Number.isNaN(value) ? "?" : `${(value * 100).toFixed(0)}%`)
  const { eventline: ours, baseline: raw } = result
  const pair = (get: (sample: AppendSample) => number) => `${micros(of(ours, get))} vs ${micros(of(raw, get))}`
  return (
    `${result.case.label}: CPU µs per append, eventline vs raw: client (node vs pgbench) ${pair((s) => s.clientCpuMicros)}; ` +
    `PostgreSQL ${pair((s) => s.postgresCpuMicros)}; other processes ${pair(otherCpuMicros)}; ` +
    `whole machine ${pair((s) => s.machineCpuMicros)} (cpus ${percent(of(ours, (s) => s.machineBusy))} vs ${percent(of(raw, (s) => s.machineBusy))} busy)`
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

const storeLayer = (url: string, connections: number) =>
  Layer.mergeAll(PgEventStore.layer, PgSnapshotStore.layer).pipe(
    Layer.provideMerge(
      PgClient.layer({ url: Redacted.make(url), maxConnections: connections, minConnections: connections })
    )
  )

const workDirectory: Effect.Effect<string, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => mkdtemp(path.join(os.tmpdir(), "eventline-pgbench-"))),
  (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
)

export const run = (options: BenchOptions) =>
  Effect.scoped(
    Effect.gen(function* () {
      const url = yield* throwawayDatabase(options.adminUrl)
      const workDir = yield* workDirectory
      const tag = `lat${Date.now().toString(36)}`
      yield* Effect.provide(Migrations.run, PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
      const tools = yield* findTools
      const seconds = 1
      const rounds: Rounds = options.quick ? { max: 1, budgetSeconds: 0 } : { max: 6, budgetSeconds: 8 }
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
        for (const appendCase of appendCases.filter((entry) => only === undefined || only.includes(entry.key))) {
          const result = yield* runAppendCase(appendCase, {
            url,
            tools: tools.value,
            workDir,
            seconds,
            rounds,
            diagnosticRounds: options.quick ? Option.none() : Option.some({ max: 2, budgetSeconds: 4 }),
            tag
          }).pipe(Effect.provide(storeLayer(url, appendCase.writers)))
          results.push(result)
        }
        for (const result of results) {
          rows.push(appendRow(result))
          if (Option.isSome(result.diagnostics)) {
            const { withoutNotify, afterCommit } = result.diagnostics.value
            rows.push(
              diagnosticRow(result.case, "raw without NOTIFY", withoutNotify, "pgbench, same SQL minus the NOTIFY CTE"),
              diagnosticRow(
                result.case,
                "eventline, NOTIFY after commit",
                afterCommit,
                'PgEventStore, notifyMode "after-commit"'
              )
            )
          }
        }
        notes.push(
          `append latency: cells are appends/s, then p50/p95/p99 ms of one append; ratio = eventline/raw per round (appends/s: <1 is slower; p95: >1 is slower). Each side runs ${seconds} s per round (time-bound), ABBA order, medians over rounds.`,
          `append latency, raw = pgbench ${pgbenchArgs({ file: "append-<case>.sql", text: "", defines: [] }, "N", "min(N,2)", { seconds }, "<tmp>/tx", []).join(" ")} -D pK=<constant parameter K> ... <db>; the script is the store's append statement captured from a probe append (shown on stderr), with only the stream id (:sid), event ids (made in SQL, time-ordered) and (c)'s expected version (:cur) not bound from -D. Each run is checked: events written = appends logged x k.`,
          "append latency: eventline = PgEventStore.append in this node process (validation, UUIDv7s, JSON.stringify, Schema decoding of the returned rows, Effect fibers), N fibers on a pool of N connections; pgbench is C and sends only the statement. Both share the machine's cpus with PostgreSQL.",
          ...results.map(cpuNote),
          rounds.max > 1
            ? `append latency noise: pgbench's own appends/s, max/min over its rounds: ${results
                .map((result) => {
                  const rates = result.baseline.map((sample) => sample.perSecond)
                  return `${result.case.key} ${(Math.max(...rates) / Math.min(...rates)).toFixed(2)}`
                })
                .join(
                  ", "
                )} (1.00 = steady). "other processes" above is CPU the machine spent outside PostgreSQL and the client: other work on the box.`
            : 'append latency noise: one round per case (--quick): no spread to show; compare the "other processes" CPU above.',
          `append latency, rounds where other processes took under 25% of the machine's CPU on both sides ("quiet"), and the appends/s ratio over those alone: ${results.map(quietNote).join(", ")}. The table's ratio is over all rounds.`
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
