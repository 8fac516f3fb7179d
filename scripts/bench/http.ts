/**
 * HTTP benchmark of the Order service on PostgreSQL, against bare baselines in the same run.
 *
 *   node scripts/bench/http.ts [--quick]        (progress on stderr, report on stdout)
 *
 * Processes: the service (packages/orders/src/main.ts) runs as a child process on a throwaway
 * PostgreSQL database (created from the admin URL, `DATABASE_URL` or
 * postgres://postgres@127.0.0.1:5432/postgres, and dropped WITH (FORCE) at the end, whatever
 * happened), LOG_LEVEL=Warn so per-request log lines are not written; the baselines run in a
 * second child (httpBare.ts): a bare effect/http router (GET /constant, and POST /orders that
 * decodes the same body with the service's own CreateOrderBody schema and touches no database)
 * and a plain node:http server. The load generators run here, on their own event loop.
 *
 * Part 1, saturation: autocannon, 50 connections, closed loop (each connection sends its next
 * request when the previous one answered), 10 s per run (3 s with --quick) after a warm-up.
 * Latency percentiles are exact (nearest rank) over every response's latency as reported by
 * autocannon's `response` event (autocannon's own histogram has p97.5 but no p95, in whole ms).
 * POST /orders sends a unique orderId per request, a customer out of 20 and 1 to 3 items;
 * GET /orders/{id} asks for random ones of 500 orders created (and awaited in the read model)
 * beforehand; one more POST run sends an Idempotency-Key per request (the idempotency table's
 * cost). Non-2xx answers and socket errors are counted: a row that has any is not a valid
 * figure. Alongside: CPU per request of the server process (/proc), of the database's backends
 * serving the throwaway database, and PostgreSQL transactions per request (pg_stat_database),
 * counted over the run plus the read model's catch-up after it.
 *
 * Part 2, the highest POST /orders rate that keeps p95 < 20 ms: an open-loop generator
 * (node:http, keep-alive, at most 50 sockets) sends at a fixed rate, evenly spaced, and measures
 * each latency from the request's scheduled send time, so that time spent queued behind a busy
 * connection counts (no coordinated omission). autocannon's `overallRate` is not used for this
 * on purpose: it lets every connection send its per-second quota back to back at the top of
 * each second, so at any rate its latencies are those of a 50-request burst. Steps up until a
 * step fails (p95 >= 20 ms, any non-2xx or error, or the server falling over a second behind),
 * then bisects between the last pass and the first failure. A failed step runs once more and
 * passes if that passes (one stall should not decide alone); the answer runs once more at the
 * end, and the report says whether it held.
 *
 * Noise: every row shows the CPU the rest of the machine used meanwhile (/proc/stat less this
 * benchmark's processes), and the report starts and ends with the latency of plain sequential
 * PostgreSQL commits (the WAL flush every append waits for).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import { Agent, request as httpRequest } from "node:http"
import { createServer as createNetServer, type Server as NetServer } from "node:net"
import os from "node:os"
import { fileURLToPath } from "node:url"
import { NodeRuntime } from "@effect/platform-node"
import { PgClient } from "@effect/sql-pg"
import autocannon from "autocannon"
import { Context, Effect, Layer, Option, Redacted, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

// ---------------------------------------------------------------------------------------------
// settings

const quick = process.argv.includes("--quick")
const settings = quick
  ? { seconds: 3, warmupSeconds: 1, serviceWarmupSeconds: 2, stepSeconds: 2, bisections: 1 }
  : { seconds: 10, warmupSeconds: 2, serviceWarmupSeconds: 4, stepSeconds: 4, bisections: 2 }
const connections = 50
const p95Limit = 20
const getOrders = 500
const rateSteps = [100, 200, 400, 600, 800, 1000, 1200, 1500, 2000, 2500, 3000]
const adminUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/postgres"
const serviceScript = fileURLToPath(new URL("../../packages/orders/src/main.ts", import.meta.url))
const bareScript = fileURLToPath(new URL("./httpBare.ts", import.meta.url))
const startedAt = performance.now()

class BenchError extends Schema.TaggedError<BenchError>()("BenchError", { message: Schema.String }) {}

const progress = (line: string) =>
  Effect.sync(() => process.stderr.write(`[${((performance.now() - startedAt) / 1000).toFixed(1)}s] ${line}\n`))

// ---------------------------------------------------------------------------------------------
// request bodies

const runTag = randomUUID().replaceAll("-", "").slice(0, 8)
let orderCounter = 0
const randomInt = (below: number) => Math.floor(Math.random() * below)

/** A CreateOrder body with a new orderId: a customer out of 20, 1 to 3 items. */
const orderBody = (orderId = `bench-${runTag}-${++orderCounter}`): string =>
  JSON.stringify({
    orderId,
    customerId: `customer-${randomInt(20)}`,
    items: Array.from({ length: 1 + randomInt(3) }, () => ({
      productId: `product-${randomInt(50)}`,
      quantity: 1 + randomInt(5),
      price: 100 + randomInt(9900)
    }))
  })

const getIds = Array.from({ length: getOrders }, (_, index) => `bench-${runTag}-get-${index}`)
const randomGetPath = () => `/orders/${getIds[randomInt(getIds.length)]}`
const jsonHeaders = { "content-type": "application/json" }

// ---------------------------------------------------------------------------------------------
// statistics

/** Nearest-rank percentile of an ascending array. */
const percentile = (sorted: Float64Array, p: number): number =>
  sorted.length === 0
    ? Number.NaN
    : (sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN)

interface Latencies {
  readonly p50: number
  readonly p95: number
  readonly p99: number
  readonly max: number
}

const summarize = (values: ReadonlyArray<number>): Latencies => {
  const sorted = Float64Array.from(values).sort()
  return {
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.length === 0 ? Number.NaN : (sorted[sorted.length - 1] ?? Number.NaN)
  }
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: the throwaway database and its counters

const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

const adminLayer = PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1, connectTimeout: "5 seconds" })

/** Runs `use` on a fresh one-connection client of the admin database. */
const onAdmin = <A>(use: (sql: SqlClient.SqlClient) => Effect.Effect<A, SqlError.SqlError>) =>
  Effect.scoped(Effect.provide(SqlClient.SqlClient.use(use), adminLayer))

const VersionRows = Schema.Array(Schema.Struct({ version: Schema.String }))
const CommitRows = Schema.Array(Schema.Struct({ commits: Schema.String }))
const PidRows = Schema.Array(Schema.Struct({ pid: Schema.Number }))

const serverVersion = onAdmin((sql) => sql`SELECT current_setting('server_version') AS version`).pipe(
  Effect.flatMap(Schema.decodeUnknownEffect(VersionRows)),
  Effect.map((rows) => rows[0]?.version ?? "?"),
  Effect.mapError(
    (error) =>
      new BenchError({
        message: `PostgreSQL is not reachable at ${adminUrl.replace(/\/\/[^@]*@/, "//")} (set DATABASE_URL to an admin URL): ${error.message}`
      })
  )
)

/** A fresh database for the run; its name and URL. Dropped WITH (FORCE) when the scope closes. */
const throwawayDatabase = Effect.gen(function* () {
  const name = `eventline_bench_http_${runTag}`
  yield* Effect.acquireRelease(
    onAdmin((sql) => sql`CREATE DATABASE ${sql(name)}`),
    () =>
      onAdmin((sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`).pipe(
        Effect.andThen(progress(`dropped database ${name}`)),
        Effect.catch((error) => progress(`COULD NOT DROP database ${name}: ${error.message}`))
      )
  )
  return { name, url: withDatabase(adminUrl, name) }
})

/** Counters read around a run through a long-lived admin connection. */
const makeCounters = (database: string) =>
  Effect.gen(function* () {
    const context = yield* Layer.build(adminLayer)
    const sql = Context.get(context, SqlClient.SqlClient)
    const commits = sql`SELECT xact_commit::text AS commits FROM pg_stat_database WHERE datname = ${database}`.pipe(
      Effect.flatMap(Schema.decodeUnknownEffect(CommitRows)),
      Effect.map((rows) => Number(rows[0]?.commits ?? 0))
    )
    const backends = sql`SELECT pid FROM pg_stat_activity WHERE datname = ${database}`.pipe(
      Effect.flatMap(Schema.decodeUnknownEffect(PidRows)),
      Effect.map((rows) => rows.map((row) => row.pid))
    )
    return { commits, backends }
  })

type Counters = Effect.Success<ReturnType<typeof makeCounters>>

/**
 * The disk under the log: 200 sequential single-row INSERT commits (each waits for its WAL
 * flush) on a scratch table of the throwaway database; their latency percentiles. A POST's
 * append commits the same way, so this bounds what the service can do on this box right now.
 */
const commitProbe = (databaseUrl: string) =>
  Effect.scoped(
    Effect.gen(function* () {
      const context = yield* Layer.build(
        PgClient.layer({ url: Redacted.make(databaseUrl), maxConnections: 1, connectTimeout: "5 seconds" })
      )
      const sql = Context.get(context, SqlClient.SqlClient)
      yield* sql`CREATE TABLE IF NOT EXISTS bench_commit_probe (id bigint GENERATED ALWAYS AS IDENTITY, at timestamptz NOT NULL DEFAULT now())`
      const latencies: Array<number> = []
      for (let index = 0; index < 200; index++) {
        const before = performance.now()
        yield* sql`INSERT INTO bench_commit_probe DEFAULT VALUES`
        latencies.push(performance.now() - before)
      }
      return summarize(latencies)
    })
  )

/** utime + stime of a process in clock ticks (1/100 s), 0 when it is gone. */
const cpuTicks = (pid: number): number => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return Number(fields[11]) + Number(fields[12])
  } catch {
    return 0
  }
}

/** Busy ticks of the whole machine, all CPUs (/proc/stat: user nice system irq softirq steal). */
const machineBusyTicks = (): number => {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number)
  return [0, 1, 2, 5, 6, 7].reduce((sum, index) => sum + (fields[index] ?? 0), 0)
}

interface Usage {
  readonly serverTicks: number
  readonly pgTicks: number | undefined
  readonly commits: number | undefined
  /** CPU used meanwhile by everything that is not this benchmark, in cores: the noise. */
  readonly otherCores: number
}

interface Processes {
  readonly service: Child
  readonly bare: Child
  readonly counters: Counters
}

/**
 * Resource use from here to `end`: the CPU of `server`; for the service also its database
 * backends' CPU and, with `commits`, the database's committed transactions; and the CPU that
 * the rest of the machine used meanwhile (busy ticks of /proc/stat less this process, both
 * children and the service's backends).
 */
const usageWindow = (processes: Processes, server: Child, commits: boolean) =>
  Effect.gen(function* () {
    const { bare, counters, service } = processes
    const isService = server.pid === service.pid
    const pids = yield* counters.backends
    const pgTicks = () => pids.reduce((sum, pid) => sum + cpuTicks(pid), 0)
    const ours = () => cpuTicks(process.pid) + cpuTicks(service.pid) + cpuTicks(bare.pid) + pgTicks()
    const startedAt = performance.now()
    const machineBefore = machineBusyTicks()
    const oursBefore = ours()
    const serverBefore = cpuTicks(server.pid)
    const pgBefore = pgTicks()
    const commitsBefore = isService && commits ? yield* counters.commits : 0
    return Effect.gen(function* () {
      const seconds = (performance.now() - startedAt) / 1000
      const others = machineBusyTicks() - machineBefore - (ours() - oursBefore)
      const usage = {
        serverTicks: cpuTicks(server.pid) - serverBefore,
        pgTicks: isService ? pgTicks() - pgBefore : undefined,
        commits: undefined,
        otherCores: Math.max(0, others) / 100 / seconds
      } satisfies Usage
      if (!isService || !commits) return usage
      // pg_stat_database is flushed by each backend at most once a second
      yield* Effect.sleep("1100 millis")
      return { ...usage, commits: (yield* counters.commits) - commitsBefore } satisfies Usage
    })
  })

// ---------------------------------------------------------------------------------------------
// child processes

interface Child {
  readonly name: string
  readonly pid: number
  readonly process: ChildProcess
  readonly output: () => string
}

const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null

const waitForExit = (child: ChildProcess) =>
  Effect.callback<void>((resume) => {
    if (exited(child)) return resume(Effect.void)
    const onExit = () => resume(Effect.void)
    child.once("exit", onExit)
    return Effect.sync(() => child.off("exit", onExit))
  })

const stopChild = (child: Child) =>
  Effect.gen(function* () {
    if (exited(child.process)) return
    child.process.kill("SIGTERM")
    const stopped = yield* waitForExit(child.process).pipe(Effect.timeoutOption("15 seconds"))
    if (Option.isNone(stopped)) {
      child.process.kill("SIGKILL")
      yield* waitForExit(child.process)
    }
    yield* progress(`stopped ${child.name}`)
  })

/** A node child process running `script` for the lifetime of the scope (SIGTERM, then SIGKILL). */
const spawnChild = (name: string, script: string, env: Readonly<Record<string, string>>) =>
  Effect.acquireRelease(
    Effect.try({
      try: (): Child => {
        const inherited = { ...process.env }
        // the benchmark's service streams in-process and exports nothing
        delete inherited.KAFKA_BROKERS
        delete inherited.OTEL_EXPORTER_OTLP_ENDPOINT
        // process.execPath is the pinned node running this script
        const child = spawn(process.execPath, [script], {
          env: { ...inherited, ...env },
          stdio: ["ignore", "pipe", "pipe"]
        })
        let output = ""
        const keep = (chunk: Buffer) => {
          output = (output + chunk.toString("utf8")).slice(-16_000)
        }
        child.stdout?.on("data", keep)
        child.stderr?.on("data", keep)
        if (child.pid === undefined) throw new Error("no pid")
        return { name, pid: child.pid, process: child, output: () => output }
      },
      catch: (cause) => new BenchError({ message: `could not start ${name}: ${String(cause)}` })
    }),
    stopChild
  )

const listenOnAnyPort = (server: NetServer) =>
  Effect.callback<number>((resume) => {
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0))
    })
  })

/** `count` distinct free ports (all held open together while they are picked). */
const freePorts = (count: number) =>
  Effect.gen(function* () {
    const servers = Array.from({ length: count }, () => createNetServer())
    const ports = yield* Effect.forEach(servers, listenOnAnyPort)
    yield* Effect.forEach(servers, (server) =>
      Effect.callback<void>((resume) => {
        server.close(() => resume(Effect.void))
      })
    )
    return ports
  })

// ---------------------------------------------------------------------------------------------
// a plain HTTP client (setup, settling, and the open-loop generator)

interface Reply {
  readonly status: number
  readonly body: string
}

const send = (port: number, method: "GET" | "POST", path: string, body?: string) =>
  Effect.callback<Reply, BenchError>((resume) => {
    const request = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        // a connection per call: no reuse of a socket the server may be closing as idle
        agent: false,
        headers: body === undefined ? {} : { ...jsonHeaders, "content-length": Buffer.byteLength(body) }
      },
      (response) => {
        let text = ""
        response.setEncoding("utf8")
        response.on("data", (chunk: string) => {
          text += chunk
        })
        response.on("end", () => resume(Effect.succeed({ status: response.statusCode ?? 0, body: text })))
      }
    )
    request.setTimeout(30_000, () => request.destroy(new Error("timeout")))
    request.on("error", (error) =>
      resume(Effect.fail(new BenchError({ message: `${method} ${path}: ${error.message}` })))
    )
    request.end(body)
    return Effect.sync(() => request.destroy())
  })

/** Polls `path` until it answers 200, failing early when the child died. */
const waitReady = (child: Child, port: number, path: string) =>
  Effect.gen(function* () {
    const deadline = performance.now() + 90_000
    while (true) {
      if (exited(child.process)) {
        return yield* new BenchError({
          message: `${child.name} exited (${child.process.exitCode ?? child.process.signalCode}) before it was ready:\n${child.output()}`
        })
      }
      const reply = yield* send(port, "GET", path).pipe(Effect.option)
      if (Option.isSome(reply) && reply.value.status === 200) return
      if (performance.now() > deadline) {
        return yield* new BenchError({ message: `${child.name} not ready after 90 s:\n${child.output()}` })
      }
      yield* Effect.sleep("200 millis")
    }
  })

/**
 * Waits until the read model has caught up with everything committed so far: GET with
 * ?consistent=true waits for it (at most 5 s, then answers anyway), so repeat until one answers
 * 200 well within that.
 */
const settle = (port: number) =>
  Effect.gen(function* () {
    for (let attempt = 0; attempt < 30; attempt++) {
      const before = performance.now()
      const reply = yield* send(port, "GET", `/orders/${getIds[0]}?consistent=true`)
      if (reply.status === 200 && performance.now() - before < 4_500) return
    }
    return yield* new BenchError({ message: "the read model did not catch up" })
  })

// ---------------------------------------------------------------------------------------------
// closed loop: autocannon at 50 connections

interface Run {
  readonly name: string
  readonly requests: number
  readonly seconds: number
  readonly latencies: Latencies
  readonly non2xx: number
  readonly statuses: string
  readonly errors: number
  readonly clientCpuMs: number
  readonly usage: Usage
}

const statusSummary = (stats: Readonly<Record<string, { readonly count?: number | undefined }>> | undefined) =>
  Object.entries(stats ?? {})
    .filter(([code]) => !code.startsWith("2"))
    .map(([code, stat]) => `${code}x${stat.count ?? 0}`)
    .join(" ")

const closedLoop = (name: string, port: number, request: autocannon.Request, seconds: number) =>
  Effect.callback<Omit<Run, "usage">, BenchError>((resume) => {
    const latencies: Array<number> = []
    const cpuBefore = process.cpuUsage()
    const instance = autocannon(
      { url: `http://127.0.0.1:${port}`, connections, duration: seconds, timeout: 10, requests: [request] },
      (error: unknown, result) => {
        if (error !== null && error !== undefined) {
          return resume(Effect.fail(new BenchError({ message: `${name}: autocannon failed: ${String(error)}` })))
        }
        const cpu = process.cpuUsage(cpuBefore)
        resume(
          Effect.succeed({
            name,
            requests: latencies.length,
            seconds: result.duration,
            latencies: summarize(latencies),
            non2xx: result.non2xx,
            statuses: statusSummary(result.statusCodeStats),
            errors: result.errors,
            clientCpuMs: (cpu.user + cpu.system) / 1000
          })
        )
      }
    )
    instance.on("response", (_client, _status, _bytes, responseTime) => {
      latencies.push(responseTime)
    })
    return Effect.sync(() => instance.stop())
  })

const postRequest = (headers?: () => Record<string, string>): autocannon.Request => ({
  method: "POST",
  path: "/orders",
  headers: jsonHeaders,
  setupRequest: (request) => ({
    ...request,
    ...(headers === undefined ? {} : { headers: { ...jsonHeaders, ...headers() } }),
    body: orderBody()
  })
})

/** A GET of a fixed path (built once), or of a path drawn per request. */
const getRequest = (path: string | (() => string)): autocannon.Request =>
  typeof path === "string"
    ? { method: "GET", path }
    : { method: "GET", path: path(), setupRequest: (request) => ({ ...request, path: path() }) }

// ---------------------------------------------------------------------------------------------
// open loop: a fixed rate, latency from the scheduled send time

interface StepLoad {
  readonly rate: number
  readonly achieved: number
  readonly completed: number
  readonly latencies: Latencies
  readonly non2xx: number
  readonly statuses: string
  readonly errors: number
  readonly overloaded: boolean
  readonly pass: boolean
}

interface Step extends StepLoad {
  readonly otherCores: number
  /** "retry": the second attempt after a failed one; "confirmation": the answer, run again. */
  readonly note: "" | "retry" | "confirmation"
}

const openLoop = (port: number, rate: number, seconds: number) =>
  Effect.callback<StepLoad>((resume) => {
    const agent = new Agent({ keepAlive: true, maxSockets: connections })
    const total = Math.round(rate * seconds)
    const interval = 1000 / rate
    const start = performance.now() + 10
    const latencies: Array<number> = []
    const statuses = new Map<number, number>()
    let sent = 0
    let finished = 0
    let errors = 0
    let lastFinish = start
    let overloaded = false
    let timer: ReturnType<typeof setTimeout> | undefined

    const complete = () => {
      agent.destroy()
      const non2xx = [...statuses].filter(([code]) => code < 200 || code > 299).reduce((sum, [, n]) => sum + n, 0)
      const summary = summarize(latencies)
      const achieved = latencies.length / Math.max(0.001, (lastFinish - start) / 1000)
      resume(
        Effect.succeed({
          rate,
          achieved,
          completed: latencies.length,
          latencies: summary,
          non2xx,
          statuses: [...statuses]
            .filter(([code]) => code < 200 || code > 299)
            .map(([code, n]) => `${code}x${n}`)
            .join(" "),
          errors,
          overloaded,
          pass: !overloaded && errors === 0 && non2xx === 0 && summary.p95 < p95Limit
        })
      )
    }
    const done = () => {
      finished++
      lastFinish = performance.now()
      if (finished === sent && (sent === total || overloaded)) complete()
    }
    const fire = (scheduled: number) => {
      const body = orderBody()
      const request = httpRequest(
        {
          host: "127.0.0.1",
          port,
          method: "POST",
          path: "/orders",
          agent,
          headers: { ...jsonHeaders, "content-length": Buffer.byteLength(body) }
        },
        (response) => {
          const status = response.statusCode ?? 0
          response.resume()
          response.on("end", () => {
            latencies.push(performance.now() - scheduled)
            statuses.set(status, (statuses.get(status) ?? 0) + 1)
            done()
          })
        }
      )
      request.setTimeout(10_000, () => request.destroy(new Error("timeout")))
      request.on("error", () => {
        errors++
        done()
      })
      request.end(body)
    }
    const tick = () => {
      const now = performance.now()
      while (sent < total && start + sent * interval <= now) {
        // more than a second of work outstanding: the server no longer keeps up
        if (sent - finished > connections + rate) {
          overloaded = true
          if (finished === sent) complete()
          return
        }
        fire(start + sent * interval)
        sent++
      }
      if (sent < total) timer = setTimeout(tick, Math.max(0, start + sent * interval - performance.now()))
    }
    timer = setTimeout(tick, 10)
    return Effect.sync(() => {
      clearTimeout(timer)
      agent.destroy()
    })
  })

// ---------------------------------------------------------------------------------------------
// report

const fixed = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : "-")
const pad = (text: string, width: number) => text.padStart(width)
const padEnd = (text: string, width: number) => text.padEnd(width)
const ms = (value: number) => fixed(value, value < 10 ? 2 : 1)

const runHeader = `${padEnd("run (50 connections, closed loop)", 44)}${pad("req/s", 8)}${pad("p50 ms", 8)}${pad("p95 ms", 8)}${pad("p99 ms", 8)}${pad("max ms", 8)}${pad("non2xx", 7)}${pad("err", 5)}${pad("srv cpu", 9)}${pad("pg cpu", 8)}${pad("pg xact", 8)}${pad("gen cpu", 9)}${pad("other", 7)}`

const perRequest = (run: Run, value: number | undefined) =>
  value === undefined || run.requests === 0 ? Number.NaN : value / run.requests
const throughput = (run: Run) => run.requests / run.seconds
const serverCpu = (run: Run) => perRequest(run, run.usage.serverTicks * 10)

const runRow = (run: Run) =>
  [
    padEnd(run.name, 44),
    pad(fixed(throughput(run), 0), 8),
    pad(ms(run.latencies.p50), 8),
    pad(ms(run.latencies.p95), 8),
    pad(ms(run.latencies.p99), 8),
    pad(ms(run.latencies.max), 8),
    pad(String(run.non2xx), 7),
    pad(String(run.errors), 5),
    pad(fixed(serverCpu(run), 3), 9),
    pad(fixed(perRequest(run, run.usage.pgTicks === undefined ? undefined : run.usage.pgTicks * 10), 3), 8),
    pad(fixed(perRequest(run, run.usage.commits), 2), 8),
    pad(fixed(perRequest(run, run.clientCpuMs), 3), 9),
    pad(fixed(run.usage.otherCores, 2), 7)
  ].join("")

const stepHeader = `${pad("rate/s", 8)}${pad("achieved", 10)}${pad("p50 ms", 8)}${pad("p95 ms", 8)}${pad("p99 ms", 8)}${pad("max ms", 8)}${pad("non2xx", 8)}${pad("err", 5)}${pad("other", 7)}  verdict`

const verdict = (step: Step) =>
  step.pass
    ? "pass"
    : [
        step.latencies.p95 >= p95Limit ? `p95 >= ${p95Limit} ms` : "",
        step.non2xx > 0 ? `non-2xx ${step.statuses}` : "",
        step.errors > 0 ? "errors" : "",
        step.overloaded ? "fell >1 s behind, stopped" : ""
      ]
        .filter((reason) => reason !== "")
        .join(", ")

const stepRow = (step: Step) =>
  [
    pad(String(step.rate), 8),
    pad(fixed(step.achieved, 0), 10),
    pad(ms(step.latencies.p50), 8),
    pad(ms(step.latencies.p95), 8),
    pad(ms(step.latencies.p99), 8),
    pad(ms(step.latencies.max), 8),
    pad(String(step.non2xx), 8),
    pad(String(step.errors), 5),
    pad(fixed(step.otherCores, 2), 7),
    `  ${verdict(step)}${step.note === "" ? "" : ` (${step.note})`}`
  ].join("")

const ratio = (a: number, b: number) => (b === 0 || !Number.isFinite(a / b) ? "-" : (a / b).toFixed(2))

const compare = (label: string, run: Run, baseline: Run) =>
  `  ${padEnd(label, 48)} throughput ${pad(ratio(throughput(run), throughput(baseline)), 5)}x   p95 ${pad(ratio(run.latencies.p95, baseline.latencies.p95), 6)}x   server CPU/request ${pad(ratio(serverCpu(run), serverCpu(baseline)), 6)}x`

// ---------------------------------------------------------------------------------------------
// the run

const program = Effect.gen(function* () {
  const cpus = os.cpus()
  const loadBefore = os.loadavg()
  const pgVersion = yield* serverVersion
  yield* progress(
    `eventline HTTP bench${quick ? " --quick" : ""}: PostgreSQL ${pgVersion}, ${cpus.length} CPUs, load ${loadBefore.map((n) => n.toFixed(2)).join(" ")}`
  )
  const database = yield* throwawayDatabase
  const counters = yield* makeCounters(database.name)
  const commitsBefore = yield* commitProbe(database.url)
  yield* progress(`PostgreSQL commit latency: p50 ${ms(commitsBefore.p50)} ms, p95 ${ms(commitsBefore.p95)} ms`)
  const [servicePort = 0, barePort = 0, nodePort = 0] = yield* freePorts(3)

  yield* progress(`starting the service (port ${servicePort}, database ${database.name}) and the baselines`)
  const [service, bare] = yield* Effect.all(
    [
      spawnChild("service", serviceScript, {
        PORT: String(servicePort),
        HOST: "127.0.0.1",
        DATABASE_URL: database.url,
        LOG_LEVEL: "Warn",
        LOG_FORMAT: "json"
      }),
      spawnChild("baselines", bareScript, { PORT: String(barePort), NODE_PORT: String(nodePort) })
    ],
    { concurrency: 2 }
  )
  const readySince = performance.now()
  yield* Effect.all(
    [
      waitReady(service, servicePort, "/health/ready"),
      waitReady(bare, barePort, "/constant"),
      waitReady(bare, nodePort, "/constant")
    ],
    { concurrency: 3 }
  )
  yield* progress(`ready in ${((performance.now() - readySince) / 1000).toFixed(1)} s`)

  // orders for GET /orders/{id}
  const created = yield* Effect.forEach(getIds, (id) => send(servicePort, "POST", "/orders", orderBody(id)), {
    concurrency: 20
  })
  const notCreated = created.filter((reply) => reply.status !== 201)
  if (notCreated.length > 0) {
    return yield* new BenchError({
      message: `${notCreated.length} of ${getOrders} setup orders not created: ${notCreated[0]?.status} ${notCreated[0]?.body}`
    })
  }
  const last = yield* send(servicePort, "GET", `/orders/${getIds[getIds.length - 1]}?consistent=true`)
  if (last.status !== 200) return yield* new BenchError({ message: `setup order not in the read model: ${last.body}` })
  yield* settle(servicePort)
  yield* progress(`created ${getOrders} orders for GET, the read model has them`)

  const targets = {
    nodeGet: { name: "bare node:http     GET /constant", port: nodePort, request: () => getRequest("/constant") },
    bareGet: { name: "bare effect/http   GET /constant", port: barePort, request: () => getRequest("/constant") },
    barePost: { name: "bare effect/http   POST /orders (decode only)", port: barePort, request: () => postRequest() },
    serviceGet: {
      name: "service            GET /orders/{id}",
      port: servicePort,
      request: () => getRequest(randomGetPath)
    },
    servicePost: { name: "service            POST /orders", port: servicePort, request: () => postRequest() },
    serviceIdem: {
      name: "service            POST /orders +Idempotency-Key",
      port: servicePort,
      request: () => postRequest(() => ({ "idempotency-key": randomUUID() }))
    }
  }
  type Target = (typeof targets)[keyof typeof targets]

  yield* progress(
    `warm-up: ${settings.warmupSeconds} s per baseline route, ${settings.serviceWarmupSeconds} s per service route`
  )
  for (const target of Object.values(targets)) {
    const seconds = target.port === servicePort ? settings.serviceWarmupSeconds : settings.warmupSeconds
    yield* closedLoop(target.name, target.port, target.request(), seconds)
  }
  yield* settle(servicePort)

  const processes: Processes = { service, bare, counters }
  const measure = (target: Target) =>
    Effect.gen(function* () {
      yield* progress(`${target.name.replace(/\s+/g, " ")}: ${settings.seconds} s`)
      const isService = target.port === servicePort
      const end = yield* usageWindow(processes, isService ? service : bare, true)
      const run = yield* closedLoop(target.name, target.port, target.request(), settings.seconds)
      // the read model's catch-up is part of what the requests cost
      if (isService) yield* settle(servicePort)
      const usage = yield* end
      return { ...run, usage } satisfies Run
    })

  const runs = {
    nodeGet: yield* measure(targets.nodeGet),
    bareGet: yield* measure(targets.bareGet),
    barePost: yield* measure(targets.barePost),
    serviceGet: yield* measure(targets.serviceGet),
    servicePost: yield* measure(targets.servicePost),
    serviceIdem: yield* measure(targets.serviceIdem)
  }

  // the highest POST rate that keeps p95 < 20 ms
  const steps: Array<Step> = []
  const attempt = (rate: number, note: Step["note"]) =>
    Effect.gen(function* () {
      yield* settle(servicePort)
      yield* progress(
        `POST /orders at ${rate}/s, ${settings.stepSeconds} s, open loop${note === "" ? "" : ` (${note})`}`
      )
      const end = yield* usageWindow(processes, service, false)
      const load = yield* openLoop(servicePort, rate, settings.stepSeconds)
      const usage = yield* end
      const result: Step = { ...load, otherCores: usage.otherCores, note }
      steps.push(result)
      yield* progress(
        `  p95 ${ms(result.latencies.p95)} ms, achieved ${fixed(result.achieved, 0)}/s, other load ${fixed(usage.otherCores, 2)} cores: ${result.pass ? "pass" : "fail"}`
      )
      return result.pass
    })
  // a failed step runs once more: one stall of the shared box should not decide alone
  const step = (rate: number) =>
    Effect.flatMap(attempt(rate, ""), (pass) => (pass ? Effect.succeed(true) : attempt(rate, "retry")))
  let lastPass = 0
  let firstFail: number | undefined
  for (const rate of rateSteps) {
    if (yield* step(rate)) lastPass = rate
    else {
      firstFail = rate
      break
    }
  }
  if (firstFail !== undefined && lastPass === 0) {
    for (const rate of [50, 25]) {
      if (yield* step(rate)) {
        lastPass = rate
        break
      }
      firstFail = rate
    }
  }
  if (firstFail !== undefined && lastPass > 0) {
    let failing: number = firstFail
    for (let round = 0; round < settings.bisections; round++) {
      const middle = Math.round((lastPass + failing) / 2 / 10) * 10
      if (middle <= lastPass || middle >= failing) break
      if (yield* step(middle)) lastPass = middle
      else failing = middle
    }
    firstFail = failing
  }
  // one step is a few seconds on a shared box: run the answer once more
  const confirmed = lastPass > 0 ? yield* attempt(lastPass, "confirmation") : false
  yield* settle(servicePort)
  const commitsAfter = yield* commitProbe(database.url)

  const serviceLog = service.output().trim()
  const loadAfter = os.loadavg()
  const totalSeconds = (performance.now() - startedAt) / 1000

  const lines = [
    "",
    `Eventline HTTP benchmark${quick ? " (--quick)" : ""}: node ${process.version}, autocannon 9, PostgreSQL ${pgVersion} on ${adminUrl.replace(/\/\/[^@]*@/, "//")}, ${cpus.length} x ${cpus[0]?.model ?? "?"}`,
    `load average ${loadBefore.map((n) => n.toFixed(2)).join(" ")} before, ${loadAfter.map((n) => n.toFixed(2)).join(" ")} after; ${settings.seconds} s per run after a warm-up (${settings.warmupSeconds} s per baseline route, ${settings.serviceWarmupSeconds} s per service route); whole run ${totalSeconds.toFixed(0)} s`,
    `PostgreSQL commit latency (200 sequential 1-row INSERT commits, fsync on): p50/p95/p99 ${[commitsBefore.p50, commitsBefore.p95, commitsBefore.p99].map(ms).join("/")} ms before the runs, ${[commitsAfter.p50, commitsAfter.p95, commitsAfter.p99].map(ms).join("/")} ms after`,
    "",
    runHeader,
    ...Object.values(runs).map(runRow),
    "",
    "  latency: exact percentiles over every response (autocannon's per-response time); non2xx/err: must be 0 for a valid row",
    "  srv cpu: CPU ms per request of the server process (all its threads; /proc, 10 ms ticks);",
    "  pg cpu, pg xact: CPU ms of the PostgreSQL backends serving the service's database, and its committed transactions,",
    "  per request; for the service all three include the read model's catch-up after the run;",
    "  gen cpu: CPU ms per request of the load generator (this process); other: cores used meanwhile by the rest of the",
    "  machine (other work, PostgreSQL's shared background processes): the noise in each figure",
    "",
    "Ratios, same run, same autocannon settings (throughput: higher is better; p95 and server CPU per request: lower is better):",
    compare("service GET /orders/{id} / bare GET /constant", runs.serviceGet, runs.bareGet),
    compare("service POST /orders / bare POST (decode only)", runs.servicePost, runs.barePost),
    compare("bare effect/http / node:http, GET /constant", runs.bareGet, runs.nodeGet),
    compare("POST +Idempotency-Key / plain POST", runs.serviceIdem, runs.servicePost),
    "",
    `POST /orders at a fixed rate (open loop, evenly spaced, <= ${connections} connections, ${settings.stepSeconds} s per step, latency from the scheduled send;`,
    "  a failed step runs once more (retry) and passes if that passes; the answer runs once more at the end (confirmation)):",
    stepHeader,
    ...steps.map(stepRow),
    "",
    lastPass > 0
      ? `Highest POST /orders rate with p95 < ${p95Limit} ms: ${lastPass}/s${firstFail === undefined ? " (the highest rate tried)" : ` (${firstFail}/s failed)`}; ${confirmed ? "confirmed by a second step at that rate (last row)" : "NOT confirmed: the second step at that rate (last row) failed, so the figure is at the edge of the noise"}`
      : `No POST /orders rate tried kept p95 < ${p95Limit} ms (down to ${firstFail ?? "?"}/s)`,
    serviceLog === ""
      ? "The service logged nothing at Warn or above."
      : `The service logged at Warn or above (last lines):\n${serviceLog.split("\n").slice(-5).join("\n")}`
  ]
  yield* Effect.sync(() => process.stdout.write(`${lines.join("\n")}\n`))
})

NodeRuntime.runMain(Effect.scoped(program))
