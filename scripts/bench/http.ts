/**
 * HTTP benchmark of the Order service (issue 11): POST /orders.
 *
 *   node scripts/bench/http.ts [--quick] [--part saturation|sustained] [--rates 700,1400] [--before <main.ts>]
 *
 * The service (packages/orders/src/main.ts, or `--before` another checkout's, for a before/after
 * in one run) runs as a child process on a throwaway PostgreSQL database of its own (dropped WITH
 * (FORCE) at the end) or on PGlite in a temporary directory, LOG_LEVEL=Warn; the load runs here.
 *
 * - saturation (PostgreSQL): autocannon, 50 connections, closed loop; the bare baseline
 *   (httpBare.ts: node:http + one INSERT into a plain table) and the service's POST /orders with
 *   and without an Idempotency-Key, in alternating rounds (ABBA); medians. Per request: the
 *   server's CPU (/proc) and the database's committed transactions (pg_stat_database: the
 *   request path plus what the projections, the saga and the NOTIFY fiber commit meanwhile; the
 *   request path alone is counted by packages/orders/test/OrdersApiRoundTrips.test.ts).
 * - sustained (PGlite `--rates` first, PostgreSQL second; default 700 and 1400, twice the rates
 *   that passed before): as a new user would try it, POST /orders at a fixed rate, evenly spaced,
 *   for 2 x 30 s back to back on one service (10 s with --quick), latency from the scheduled send
 *   time (time queued behind a busy socket counts); the server's RSS every 5 s. Pass: p95 < 50 ms,
 *   no error, no non-2xx.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { randomUUID } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { Agent, request as httpRequest } from "node:http"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { PgClient } from "@effect/sql-pg"
import autocannon from "autocannon"
import { Effect, Redacted, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { median, progress } from "./common.ts"

const flag = (name: string) => {
  const index = process.argv.indexOf(`--${name}`)
  return index === -1 ? undefined : process.argv[index + 1]
}
const quick = process.argv.includes("--quick")
const part = flag("part")
const [pgliteRate = 700, postgresRate = 1400] = (flag("rates") ?? "").split(",").filter(Boolean).map(Number)
const before = flag("before")
const adminUrl = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres"
const mainTs = fileURLToPath(new URL("../../packages/orders/src/main.ts", import.meta.url))
const bareTs = fileURLToPath(new URL("./httpBare.ts", import.meta.url))
const connections = 50
const runTag = randomUUID().slice(0, 8)
let orders = 0

/** A CreateOrder body with a new order id: a customer out of 20, 1 to 3 items. */
const orderBody = () =>
  JSON.stringify({
    orderId: `bench-${runTag}-${++orders}`,
    customerId: `customer-${orders % 20}`,
    items: Array.from({ length: 1 + (orders % 3) }, (_, i) => ({ productId: `p-${i}`, quantity: 1 + i, price: 250 }))
  })

const percentiles = (values: Array<number>) => {
  const sorted = Float64Array.from(values).sort()
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN
  return { p50: at(50), p95: at(95), p99: at(99), max: sorted[sorted.length - 1] ?? Number.NaN }
}

const procField = (pid: number, file: "stat" | "status") => readFileSync(`/proc/${pid}/${file}`, "utf8")
/** utime + stime in ms. */
const cpuMs = (pid: number) => {
  const fields = procField(pid, "stat").split(") ")[1]?.split(" ") ?? []
  return (Number(fields[11]) + Number(fields[12])) * 10
}
const rssMb = (pid: number) => Math.round(Number(/VmRSS:\s+(\d+)/.exec(procField(pid, "status"))?.[1] ?? 0) / 1024)

// ------------------------------------------------------------------------------------ processes

const freePort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const address = server.address()
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
      })
    })
)

const exited = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once("exit", () => resolve())))

/** A node child running `script` on a free port until the scope closes; ready when `readyPath` answers 200. */
const serve = (script: string, env: Record<string, string>, readyPath: string) =>
  Effect.gen(function* () {
    const port = yield* freePort
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [script], {
          env: { ...process.env, KAFKA_BROKERS: "", LOG_LEVEL: "Warn", PORT: String(port), HOST: "127.0.0.1", ...env },
          stdio: ["ignore", "inherit", "inherit"]
        })
      ),
      (child) => Effect.promise(() => (child.kill("SIGTERM") ? exited(child) : Promise.resolve()))
    )
    yield* Effect.tryPromise(() => fetch(`http://127.0.0.1:${port}${readyPath}`, { method: "GET" })).pipe(
      Effect.filterOrFail((response) => response.status !== 503 && response.status < 500),
      Effect.retry(Schedule.spaced("200 millis").pipe(Schedule.upTo({ duration: "90 seconds" }))),
      Effect.orDie
    )
    return { port, pid: child.pid ?? 0 }
  })

const admin = PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1 })
const onAdmin = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => Effect.provide(effect, admin)

/** A throwaway database (prefix e_): its name and URL; dropped WITH (FORCE) when the scope closes. */
const database = (label: string) =>
  Effect.gen(function* () {
    const name = `e_http_${label}_${runTag}`
    yield* Effect.acquireRelease(onAdmin(SqlClient.SqlClient.use((sql) => sql`CREATE DATABASE ${sql(name)}`)), () =>
      Effect.ignore(onAdmin(SqlClient.SqlClient.use((sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`)))
    )
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    return { name, url: url.toString() }
  }).pipe(Effect.orDie)

const commits = (name: string) =>
  onAdmin(
    SqlClient.SqlClient.use(
      (sql) => sql<{ n: string }>`SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = ${name}`
    )
  ).pipe(
    Effect.map((rows) => Number(rows[0]?.n ?? 0)),
    Effect.orDie
  )

// ------------------------------------------------------------------------------------ load

interface Run {
  readonly perSecond: number
  readonly p95: number
  readonly bad: number
  readonly cpuMsPerRequest: number
  readonly xactPerRequest: number
}

/** autocannon, closed loop, 50 connections, POST /orders (with a fresh Idempotency-Key each when `keyed`). */
const closedLoop = (target: { port: number; pid: number; db?: string | undefined }, keyed: boolean, seconds: number) =>
  Effect.gen(function* () {
    const commitsBefore = target.db === undefined ? 0 : yield* commits(target.db)
    const cpuBefore = cpuMs(target.pid)
    const latencies: Array<number> = []
    const result = yield* Effect.promise(
      () =>
        new Promise<autocannon.Result>((resolve, reject) => {
          const instance = autocannon(
            {
              url: `http://127.0.0.1:${target.port}`,
              connections,
              duration: seconds,
              requests: [
                {
                  method: "POST",
                  path: "/orders",
                  setupRequest: (request) => ({
                    ...request,
                    headers: {
                      "content-type": "application/json",
                      ...(keyed ? { "idempotency-key": randomUUID() } : {})
                    },
                    body: orderBody()
                  })
                }
              ]
            },
            (error: unknown, done) => (error ? reject(error) : resolve(done))
          )
          instance.on("response", (_client, _status, _bytes, time) => latencies.push(time))
        })
    )
    const cpu = cpuMs(target.pid) - cpuBefore
    // pg_stat_database is flushed by each backend at most once a second
    yield* Effect.sleep("1500 millis")
    const xact = target.db === undefined ? Number.NaN : (yield* commits(target.db)) - commitsBefore
    return {
      perSecond: latencies.length / seconds,
      p95: percentiles(latencies).p95,
      bad: result.non2xx + result.errors,
      cpuMsPerRequest: cpu / latencies.length,
      xactPerRequest: xact / latencies.length
    } satisfies Run
  })

/**
 * POST /orders at a fixed rate, evenly spaced, on at most 50 sockets; latency from the scheduled
 * send. Stops sending once more than a second of requests is outstanding (the server fell behind).
 */
const openLoop = (port: number, rate: number, seconds: number, everySecond: (second: number) => void) =>
  Effect.promise(
    () =>
      new Promise<{ latencies: Array<number>; bad: number; overloaded: boolean }>((resolve) => {
        const agent = new Agent({ keepAlive: true, maxSockets: connections })
        const latencies: Array<number> = []
        let total = rate * seconds
        const start = performance.now() + 10
        let sent = 0
        let bad = 0
        let overloaded = false
        const finish = (scheduled: number, ok: boolean) => {
          latencies.push(performance.now() - scheduled)
          if (!ok) bad++
          if (latencies.length === total) {
            agent.destroy()
            resolve({ latencies, bad, overloaded })
          }
        }
        const fire = (scheduled: number) => {
          const body = orderBody()
          const request = httpRequest(
            {
              port,
              host: "127.0.0.1",
              method: "POST",
              path: "/orders",
              agent,
              headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) }
            },
            (response) => {
              response.resume().on("end", () => finish(scheduled, response.statusCode === 201))
            }
          )
          request.setTimeout(10_000, () => request.destroy(new Error("timeout")))
          request.on("error", () => finish(scheduled, false))
          request.end(body)
        }
        const tick = () => {
          const now = performance.now()
          while (sent < total && start + (sent * 1000) / rate <= now) {
            if (sent - latencies.length > rate + connections) {
              overloaded = true
              total = sent
              if (latencies.length === total) resolve({ latencies, bad, overloaded })
              return
            }
            if (sent % rate === 0) everySecond(sent / rate)
            fire(start + (sent * 1000) / rate)
            sent++
          }
          if (sent < total) setTimeout(tick, Math.max(0, start + (sent * 1000) / rate - performance.now()))
        }
        setTimeout(tick, 10)
      })
  )

// ------------------------------------------------------------------------------------ parts

const saturation = Effect.gen(function* () {
  const seconds = quick ? 4 : 6
  const rounds = quick ? 1 : 2
  const bareDb = yield* database("bare")
  const bare = yield* serve(bareTs, { DATABASE_URL: bareDb.url }, "/ready")
  const services = [
    { label: "service", script: mainTs },
    ...(before === undefined ? [] : [{ label: "before", script: before }])
  ]
  const targets: Array<{ name: string; keyed: boolean; port: number; pid: number; db?: string }> = [
    { name: "bare node:http + INSERT", keyed: false, ...bare, db: bareDb.name }
  ]
  for (const { label, script } of services) {
    const db = yield* database(label)
    const running = yield* serve(script, { DATABASE_URL: db.url }, "/health/ready")
    targets.push({ name: `${label} POST /orders`, keyed: false, ...running, db: db.name })
    targets.push({ name: `${label} POST /orders + Idempotency-Key`, keyed: true, ...running, db: db.name })
  }
  yield* progress(`warm-up: ${targets.length} targets x 2 s`)
  for (const target of targets) yield* closedLoop(target, target.keyed, 2)
  const runs = new Map<string, Array<Run>>()
  for (let round = 0; round < rounds * 2; round++) {
    // ABBA: every other round in reverse, so a drift of the machine cancels out
    for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
      const run = yield* closedLoop(target, target.keyed, seconds)
      yield* progress(`${target.name}: ${run.perSecond.toFixed(0)} req/s, p95 ${run.p95.toFixed(1)} ms`)
      runs.set(target.name, [...(runs.get(target.name) ?? []), run])
    }
  }
  const bareRate = median((runs.get(targets[0]?.name ?? "") ?? []).map((run) => run.perSecond))
  console.log(
    `\nPOST /orders on PostgreSQL, ${connections} connections, closed loop, ${rounds * 2} x ${seconds} s each, medians`
  )
  console.log("| target | req/s | x bare | p95 ms | non-2xx+err | server CPU ms/req | pg xact/req (all) |")
  console.log("| --- | --- | --- | --- | --- | --- | --- |")
  for (const [name, list] of runs) {
    const med = (of: (run: Run) => number) => median(list.map(of))
    const rate = med((run) => run.perSecond)
    console.log(
      `| ${name} | ${rate.toFixed(0)} | ${(rate / bareRate).toFixed(2)} | ${med((run) => run.p95).toFixed(1)} | ${list.reduce((n, run) => n + run.bad, 0)} | ${med((run) => run.cpuMsPerRequest).toFixed(3)} | ${med((run) => run.xactPerRequest).toFixed(2)} |`
    )
  }
})

const sustained = Effect.gen(function* () {
  const seconds = quick ? 10 : 30
  const dataDir = mkdtempSync(join(tmpdir(), "e-http-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dataDir, { recursive: true, force: true })))
  const pg = yield* database("sustained")
  const pgBefore = before === undefined ? undefined : yield* database("sustained_before")
  const cases = [
    {
      name: "PGlite",
      script: mainTs,
      rate: pgliteRate,
      env: { DATABASE_URL: "", EVENTLINE_DATA_DIR: join(dataDir, "a") }
    },
    { name: "PostgreSQL", script: mainTs, rate: postgresRate, env: { DATABASE_URL: pg.url } },
    ...(before === undefined || pgBefore === undefined
      ? []
      : [
          {
            name: "PGlite, before",
            script: before,
            rate: pgliteRate,
            env: { DATABASE_URL: "", EVENTLINE_DATA_DIR: join(dataDir, "b") }
          },
          { name: "PostgreSQL, before", script: before, rate: postgresRate, env: { DATABASE_URL: pgBefore.url } }
        ])
  ]
  console.log(
    `\nPOST /orders at a fixed rate, open loop, 2 x ${seconds} s back to back, latency from the scheduled send`
  )
  console.log(
    "| store | rate/s | run | achieved/s | p50 ms | p95 ms | p99 ms | max ms | bad | verdict | RSS MB every 5 s |"
  )
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
  for (const { name, script, rate, env } of cases) {
    yield* Effect.scoped(
      Effect.gen(function* () {
        const service = yield* serve(script, env, "/health/ready")
        for (const run of [1, 2]) {
          yield* progress(`${name}: ${rate}/s for ${seconds} s (run ${run})`)
          const rss: Array<number> = [rssMb(service.pid)]
          const started = performance.now()
          const result = yield* openLoop(service.port, rate, seconds, (second) => {
            if (second > 0 && second % 5 === 0) rss.push(rssMb(service.pid))
          })
          rss.push(rssMb(service.pid))
          const achieved = result.latencies.length / ((performance.now() - started) / 1000)
          const { p50, p95, p99, max } = percentiles(result.latencies)
          const pass = p95 < 50 && result.bad === 0 && !result.overloaded
          console.log(
            `| ${name} | ${rate} | ${run} | ${achieved.toFixed(0)} | ${p50.toFixed(1)} | ${p95.toFixed(1)} | ${p99.toFixed(1)} | ${max.toFixed(0)} | ${result.bad} | ${pass ? "pass" : result.overloaded ? "FAIL (fell >1 s behind, stopped)" : "FAIL"} | ${rss.join(" ")} |`
          )
        }
      })
    )
  }
})

const program = Effect.gen(function* () {
  if (part !== "sustained") yield* saturation
  if (part !== "saturation") yield* sustained
})

Effect.runPromise(Effect.scoped(program)).catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`)
  process.exitCode = 1
})
