/**
 * A fresh PostgreSQL database per test file: created from the admin URL that the global setup
 * provides (DATABASE_URL or the local server), migrated, and dropped (WITH FORCE) afterwards.
 */
import { randomUUID } from "node:crypto"
import { PgClient } from "@effect/sql-pg"
import { TestEnvironment } from "@eventline/testing"
import { Effect, Layer, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { Migrations } from "../src/index.ts"

const withDatabase = (url: string, database: string): string => {
  const parsed = new URL(url)
  parsed.pathname = `/${database}`
  return parsed.toString()
}

/** A throwaway database for the scope's lifetime: its URL; dropped (WITH FORCE) when the scope closes. */
export const throwawayDatabase = (adminUrl: string, prefix = "eventline_test") =>
  Effect.gen(function* () {
    const database = `${prefix}_${randomUUID().replaceAll("-", "").slice(0, 16)}`
    const admin = PgClient.layer({ url: Redacted.make(adminUrl), maxConnections: 1 })
    const onAdmin = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
      Effect.scoped(Effect.provide(effect, admin))
    yield* Effect.acquireRelease(onAdmin(SqlClient.SqlClient.use((sql) => sql`CREATE DATABASE ${sql(database)}`)), () =>
      onAdmin(SqlClient.SqlClient.use((sql) => sql`DROP DATABASE IF EXISTS ${sql(database)} WITH (FORCE)`)).pipe(
        Effect.orDie
      )
    )
    return withDatabase(adminUrl, database)
  })

/** A scoped, migrated, throwaway database; its `SqlClient` and `PgClient` are provided. */
export const freshDatabase = (adminUrl: string, options?: { readonly maxConnections?: number }) =>
  Layer.unwrap(
    Effect.map(throwawayDatabase(adminUrl), (url) =>
      Migrations.layer.pipe(
        Layer.provideMerge(PgClient.layer({ url: Redacted.make(url), maxConnections: options?.maxConnections ?? 10 }))
      )
    )
  )

/** The admin URL of the PostgreSQL server the global setup found (undefined when there is none). */
export const databaseUrl: string | undefined = inject("databaseUrl")

/** Whether the PostgreSQL suites run (outside CI a missing server skips them with this message; in CI it fails). */
export const postgresAvailable = (): boolean =>
  TestEnvironment.isAvailable("PostgreSQL", databaseUrl, "set DATABASE_URL to a server you may create databases on")
