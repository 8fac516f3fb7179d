/**
 * `npm run migrate`: bring Eventline's tables up to date and exit. PostgreSQL when DATABASE_URL
 * is set, else the embedded PGlite store in EVENTLINE_DATA_DIR (default ./.eventline/data).
 * The store layers also migrate at start-up; this is for deploy pipelines and curiosity.
 */
import { PgClient } from "@effect/sql-pg"
import { Migrations, PgliteClient } from "@eventline/postgres"
import { Cause, Config, Effect, Exit, type Layer, Option } from "effect"
import type { SqlClient } from "effect/sql"

const program = Effect.gen(function* () {
  const databaseUrl = yield* Config.option(Config.Redacted("DATABASE_URL"))
  const dataDir = yield* Config.String("EVENTLINE_DATA_DIR").pipe(Config.withDefault("./.eventline/data"))
  const client: Layer.Layer<PgClient.PgClient | SqlClient.SqlClient, unknown> = Option.isSome(databaseUrl)
    ? PgClient.layer({ url: databaseUrl.value })
    : PgliteClient.layer({ dataDir })
  const target = Option.isSome(databaseUrl) ? "PostgreSQL (DATABASE_URL)" : `PGlite in ${dataDir}`
  const applied = yield* Migrations.run.pipe(Effect.provide(client))
  return { target, applied }
})

const exit = await Effect.runPromiseExit(Effect.scoped(program))
if (Exit.isSuccess(exit)) {
  const { target, applied } = exit.value
  process.stdout.write(
    applied.length === 0
      ? `${target}: up to date\n`
      : `${target}: applied ${applied.map(([id, name]) => `${id}_${name}`).join(", ")}\n`
  )
} else {
  process.stderr.write(`migration failed: ${Cause.pretty(exit.cause)}\n`)
  process.exitCode = 1
}
