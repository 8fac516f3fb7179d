import { assert, describe, layer } from "@effect/vitest"
import { Effect } from "effect"
import { SqlClient } from "effect/sql"
import { PgHealth } from "../src/index.ts"
import { databaseUrl, freshDatabase, postgresAvailable } from "./utils.ts"

const available = postgresAvailable()

describe.skipIf(!available)("PgHealth on PostgreSQL", () => {
  layer(freshDatabase(databaseUrl ?? ""), { excludeTestServices: true, timeout: "120 seconds" })("store", (it) => {
    it.effect("is up on a migrated store, and down (naming why) once it is not migrated", () =>
      Effect.gen(function* () {
        const check = yield* PgHealth.store()
        assert.strictEqual(check.name, "store")
        yield* check.run
        const sql = yield* SqlClient.SqlClient
        yield* sql`ALTER TABLE eventline.migrations RENAME TO migrations_gone`
        const reason = yield* Effect.flip(check.run)
        assert.match(reason, /^unreachable or not migrated: /)
        yield* sql`ALTER TABLE eventline.migrations_gone RENAME TO migrations`
      })
    )
  })
})
