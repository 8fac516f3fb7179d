/**
 * What the soak test runs and breaks: a throwaway PostgreSQL database, a Kafka broker of its own
 * (scripts/kafka on other ports and a temporary state directory, never the shared one), and the
 * Order service as a child process that is stopped, killed and restarted.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createWriteStream, mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted, Schedule, Schema, Semaphore } from "effect"
import { SqlClient } from "effect/sql"

const root = fileURLToPath(new URL("../..", import.meta.url))

export class ProcessFailed extends Schema.TaggedError<ProcessFailed>()("ProcessFailed", { message: Schema.String }) {}

export const freePort = Effect.callback<number>((resume) => {
  const server = createServer().listen(0, "127.0.0.1", () => {
    const address = server.address()
    server.close(() => resume(Effect.succeed(typeof address === "object" && address !== null ? address.port : 0)))
  })
})

const sqlOn = (url: string) => Layer.build(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))

/** The database `name`, dropped WITH (FORCE) at the end (and first, should a crashed run have left it). */
export const database = (adminUrl: string, name: string) =>
  Effect.gen(function* () {
    const admin = yield* sqlOn(adminUrl)
    const onAdmin = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) => Effect.provideContext(effect, admin)
    const drop = onAdmin(SqlClient.SqlClient.use((sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`))
    const create = onAdmin(SqlClient.SqlClient.use((sql) => sql`CREATE DATABASE ${sql(name)}`))
    yield* Effect.acquireRelease(Effect.andThen(drop, create), () => Effect.ignore(drop))
    const url = new URL(adminUrl)
    url.pathname = `/${name}`
    return {
      url: url.toString(),
      /** pg_terminate_backend of the service's connections only: those to this database. */
      terminateBackends: onAdmin(
        SqlClient.SqlClient.use(
          (sql) => sql<{ n: number }>`SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
            WHERE datname = ${name} AND backend_type = 'client backend' AND pid <> pg_backend_pid()`
        )
      ).pipe(Effect.map((rows) => rows[0]?.n ?? 0)),
      /** The age in ms of the oldest transaction open on the server (in any database: it holds back every reader). */
      oldestTransaction: onAdmin(
        SqlClient.SqlClient.use(
          (sql) => sql<{ ms: number }>`SELECT coalesce(max(extract(epoch FROM now() - xact_start) * 1000), 0)::int AS ms
            FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid()`
        )
      ).pipe(Effect.map((rows) => rows[0]?.ms ?? 0)),
      /** Every stored event, straight from the store's table. */
      storedEvents: Effect.scoped(
        Effect.flatMap(sqlOn(url.toString()), (context) =>
          Effect.provideContext(
            SqlClient.SqlClient.use(
              (sql) => sql<{ stream_id: string; stream_type: string; version: number; event_type: string }>`
                SELECT stream_id, stream_type, version, event_type FROM eventline.events`
            ),
            context
          )
        )
      )
    }
  })

const kafkaScript = (script: "start.sh" | "stop.sh", env: Record<string, string>) =>
  Effect.callback<void, ProcessFailed>((resume) => {
    const child = spawn("bash", [join(root, "scripts/kafka", script)], { env: { ...process.env, ...env } })
    let output = ""
    child.stdout.on("data", (chunk) => (output += String(chunk)))
    child.stderr.on("data", (chunk) => (output += String(chunk)))
    child.once("exit", (code) =>
      resume(
        code === 0 ? Effect.void : new ProcessFailed({ message: `${script}: exit ${code}: ${output.slice(-2000)}` })
      )
    )
  })

/** A broker on `port` (its controller on the next port), stopped and its state deleted at the end. */
export const broker = (port: number) =>
  Effect.gen(function* () {
    const stateDir = mkdtempSync(join(tmpdir(), "eventline-soak-kafka-"))
    const env = (keep: boolean) => ({
      KAFKA_PORT: String(port),
      KAFKA_CONTROLLER_PORT: String(port + 1),
      KAFKA_STATE_DIR: stateDir,
      KAFKA_KEEP_DATA: keep ? "1" : "0"
    })
    const stop = Effect.andThen(
      Effect.ignore(kafkaScript("stop.sh", env(false))),
      Effect.sync(() => rmSync(stateDir, { recursive: true }))
    )
    yield* Effect.acquireRelease(kafkaScript("start.sh", env(false)), () => stop)
    return {
      brokers: `127.0.0.1:${port}`,
      /** Controlled shutdown, `down` ms without a broker, then a start on the same data. */
      restart: (down: number) =>
        kafkaScript("stop.sh", env(true)).pipe(
          Effect.andThen(Effect.sleep(down)),
          Effect.andThen(kafkaScript("start.sh", env(true)).pipe(Effect.retry(Schedule.recurs(3))))
        )
    }
  })

/** The Order service (main.ts from the workspace's sources) on 127.0.0.1:`port`, its output appended to `logFile`. */
export const service = (port: number, env: Record<string, string>, logFile: string) =>
  Effect.gen(function* () {
    const log = createWriteStream(logFile, { flags: "a" })
    const baseUrl = `http://127.0.0.1:${port}`
    // one start at a time: the watchdog and a deliberate restart must not both spawn
    const lock = yield* Semaphore.make(1)
    let child: ChildProcess | undefined
    let deliberate = false
    const unexpectedExits: Array<{ at: string; code: number | null; signal: string | null }> = []
    const running = () => child !== undefined && child.exitCode === null && child.signalCode === null
    const spawnOne = Effect.sync(() => {
      child = spawn(process.execPath, ["--conditions=@eventline/source", "packages/orders/src/main.ts"], {
        cwd: root,
        env: { PATH: process.env.PATH ?? "", PORT: String(port), HOST: "127.0.0.1", ...env }
      })
      child.stdout?.pipe(log, { end: false })
      child.stderr?.pipe(log, { end: false })
      deliberate = false
    })
    /** Until `path` answers 200, every 100 ms, for at most 3 minutes. */
    const answers = (path: string) =>
      Effect.tryPromise({
        try: (signal) => fetch(`${baseUrl}${path}`, { signal }).then((response) => response.status),
        catch: () => new ProcessFailed({ message: `${path} does not answer` })
      }).pipe(
        Effect.filterOrFail(
          (status) => status === 200,
          (status) => new ProcessFailed({ message: `${path} answered ${status}` })
        ),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ duration: "3 minutes" })))
      )
    const exited = Effect.callback<void>((resume) => {
      if (!running()) return resume(Effect.void)
      child?.once("exit", () => resume(Effect.void))
    })
    /** SIGTERM (SIGKILL when it still runs 30 s later) or SIGKILL, then wait for the exit. */
    const stop = (signal: "SIGTERM" | "SIGKILL") =>
      Effect.gen(function* () {
        if (!running()) return
        deliberate = true
        child?.kill(signal)
        yield* Effect.timeoutOption(exited, "30 seconds")
        if (running()) child?.kill("SIGKILL")
        yield* exited
      })
    const start = Effect.andThen(spawnOne, answers("/health/live"))
    yield* Effect.addFinalizer(() =>
      Effect.andThen(
        stop("SIGTERM"),
        Effect.sync(() => log.end())
      )
    )
    return {
      baseUrl,
      start,
      ready: answers("/health/ready"),
      restart: (signal: "SIGTERM" | "SIGKILL") => lock.withPermit(Effect.andThen(stop(signal), start)),
      unexpectedExits,
      /** Restarts the service when it exited on its own (a crash), and records it. */
      watchdog: Effect.gen(function* () {
        if (child === undefined || running() || deliberate) return
        unexpectedExits.push({ at: new Date().toISOString(), code: child.exitCode, signal: child.signalCode })
        yield* Effect.ignore(start)
      }).pipe((effect) => lock.withPermit(effect), Effect.repeat(Schedule.spaced("500 millis")))
    }
  })
