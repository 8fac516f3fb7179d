import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { Duplex } from "node:stream"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it, layer } from "@effect/vitest"
import { PGlite } from "@electric-sql/pglite"
import * as PgliteClient from "@eventline/postgres/PgliteClient"
import { Deferred, Effect, Option, Stream } from "effect"
import * as Reactivity from "effect/reactivity/Reactivity"
import { SqlClient, type SqlError } from "effect/sql"
import { pgliteStream } from "../src/internal/pgliteStream.ts"

// One PGlite for the whole block: PGlite.create costs seconds and hundreds of MB.
layer(PgliteClient.layer(), { timeout: "60 seconds" })("PgliteClient (in memory)", (it) => {
  it.effect("answers select version()", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ readonly version: string }>`SELECT version() AS version`
      assert.match(rows[0]?.version ?? "", /^PostgreSQL \d+.*PGlite/)
    })
  )

  it.effect("starts sized for its one session (shared_buffers, max_connections), durable writes kept", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const names = ["shared_buffers", "max_connections", "synchronous_commit", "full_page_writes"]
      const rows = yield* sql<{ readonly name: string; readonly setting: string }>`
        SELECT name, current_setting(name) AS setting FROM pg_settings WHERE name IN ${sql.in(names)}`
      assert.deepStrictEqual(Object.fromEntries(rows.map((row) => [row.name, row.setting])), {
        full_page_writes: "on",
        max_connections: "1",
        shared_buffers: "16MB",
        synchronous_commit: "on"
      })
    })
  )

  it.effect("creates a table, inserts and selects with parameters", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE people (id SERIAL PRIMARY KEY, name TEXT NOT NULL, age INT NOT NULL)`
      yield* sql`INSERT INTO people ${sql.insert([
        { name: "Ada", age: 36 },
        { name: "Grace", age: 85 },
        { name: "Linus", age: 21 }
      ])}`
      const rows = yield* sql<{ readonly name: string; readonly age: number }>`
        SELECT name, age FROM people WHERE age > ${30} AND name <> ${"Linus"} ORDER BY age`
      assert.deepStrictEqual(rows, [
        { name: "Ada", age: 36 },
        { name: "Grace", age: 85 }
      ])
    })
  )

  it.effect("round-trips jsonb and returns bigint columns as bigint", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const pg = yield* PgClient.PgClient
      const payload = {
        kind: "Opened",
        tags: ["a", "b"],
        matrix: [
          [1, 2],
          [3, [4, 5]]
        ],
        nested: { empty: [], none: null }
      }
      const beyondSafe = 9_007_199_254_740_993n
      yield* sql`CREATE TABLE documents (id BIGSERIAL PRIMARY KEY, body JSONB NOT NULL, amount BIGINT NOT NULL)`
      yield* sql`INSERT INTO documents (body, amount) VALUES (${pg.json(payload)}, ${beyondSafe})`
      const rows = yield* sql<{ readonly id: bigint; readonly body: unknown; readonly amount: bigint }>`
        SELECT id, body, amount FROM documents`
      assert.deepStrictEqual(rows, [{ id: 1n, body: payload, amount: beyondSafe }])
      assert.strictEqual(typeof rows[0]?.amount, "bigint")
    })
  )

  it.effect("commits transactions and rolls back the failing ones", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE ledger (entry TEXT PRIMARY KEY)`
      yield* sql.withTransaction(sql`INSERT INTO ledger VALUES ('committed')`)
      const failed = yield* sql
        .withTransaction(
          Effect.gen(function* () {
            yield* sql`INSERT INTO ledger VALUES ('rolled back')`
            return yield* Effect.fail("boom" as const)
          })
        )
        .pipe(Effect.flip)
      assert.strictEqual(failed, "boom")
      const rows = yield* sql<{ readonly entry: string }>`SELECT entry FROM ledger ORDER BY entry`
      assert.deepStrictEqual(rows, [{ entry: "committed" }])
    })
  )

  it.effect("runs a nested transaction as a savepoint", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE nested (step TEXT PRIMARY KEY)`
      yield* sql.withTransaction(
        Effect.gen(function* () {
          yield* sql`INSERT INTO nested VALUES ('outer')`
          const inner = yield* sql
            .withTransaction(
              Effect.gen(function* () {
                yield* sql`INSERT INTO nested VALUES ('inner')`
                return yield* Effect.fail("inner failed" as const)
              })
            )
            .pipe(Effect.flip)
          assert.strictEqual(inner, "inner failed")
          yield* sql.withTransaction(sql`INSERT INTO nested VALUES ('inner kept')`)
        })
      )
      const rows = yield* sql<{ readonly step: string }>`SELECT step FROM nested ORDER BY step`
      assert.deepStrictEqual(rows, [{ step: "inner kept" }, { step: "outer" }])
    })
  )

  it.effect("keeps 50 concurrent transactions and 50 plain queries apart on the one session", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE counter (id INT PRIMARY KEY, n INT NOT NULL)`
      yield* sql`INSERT INTO counter VALUES (1, 0)`
      yield* sql`CREATE TABLE visits (id SERIAL PRIMARY KEY, fiber INT NOT NULL)`
      // Read-modify-write with a yield in the middle: a transaction that shared
      // the session with another would lose updates.
      const increment = sql.withTransaction(
        Effect.gen(function* () {
          const rows = yield* sql<{ readonly n: number }>`SELECT n FROM counter WHERE id = 1 FOR UPDATE`
          yield* Effect.yieldNow
          yield* sql`UPDATE counter SET n = ${(rows[0]?.n ?? 0) + 1} WHERE id = 1`
          return "transaction" as const
        })
      )
      const visit = (fiber: number) =>
        Effect.gen(function* () {
          yield* sql`INSERT INTO visits (fiber) VALUES (${fiber})`
          yield* sql`SELECT count(*) FROM visits`
          return "plain" as const
        })
      const results = yield* Effect.all(
        Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? increment : visit(i))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter((r) => r === "transaction").length, 50)
      assert.strictEqual(results.filter((r) => r === "plain").length, 50)
      const counter = yield* sql<{ readonly n: number }>`SELECT n FROM counter WHERE id = 1`
      assert.strictEqual(counter[0]?.n, 50)
      const visits = yield* sql<{ readonly count: bigint }>`SELECT count(*) AS count FROM visits`
      assert.strictEqual(visits[0]?.count, 50n)
    })
  )

  it.effect("never rolls back a concurrent plain write along with a failing transaction", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE marks (id SERIAL PRIMARY KEY, origin TEXT NOT NULL)`
      const failing = sql
        .withTransaction(
          Effect.gen(function* () {
            yield* sql`INSERT INTO marks (origin) VALUES ('doomed')`
            yield* Effect.yieldNow
            return yield* Effect.fail("abort" as const)
          })
        )
        .pipe(Effect.flip)
      const plain = sql`INSERT INTO marks (origin) VALUES ('plain')`
      yield* Effect.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? failing : plain)),
        { concurrency: "unbounded", discard: true }
      )
      const rows = yield* sql<{ readonly origin: string; readonly count: bigint }>`
        SELECT origin, count(*) AS count FROM marks GROUP BY origin`
      assert.deepStrictEqual(rows, [{ origin: "plain", count: 20n }])
    })
  )

  it.effect("classifies a unique violation", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql`CREATE TABLE streams (stream_id TEXT NOT NULL, version INT NOT NULL, UNIQUE (stream_id, version))`
      yield* sql`INSERT INTO streams VALUES ('order-1', 1)`
      const error: SqlError.SqlError = yield* Effect.flip(sql`INSERT INTO streams VALUES ('order-1', 1)`)
      assert.strictEqual(error._tag, "SqlError")
      assert.strictEqual(error.reason._tag, "UniqueViolation")
      // The session is usable after the error.
      const rows = yield* sql<{ readonly count: bigint }>`SELECT count(*) AS count FROM streams`
      assert.strictEqual(rows[0]?.count, 1n)
    })
  )

  it.effect("streams 1000 rows", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const rows = yield* Stream.runCollect(
        sql<{ readonly n: number }>`SELECT g AS n FROM generate_series(1, 1000) AS g`.stream
      )
      assert.strictEqual(rows.length, 1000)
      assert.strictEqual(
        rows.reduce((sum, row) => sum + row.n, 0),
        500_500
      )
      // A stream stopped early releases the connection.
      const first = yield* Stream.runCollect(
        Stream.take(sql<{ readonly n: number }>`SELECT g AS n FROM generate_series(1, 100000) AS g`.stream, 3)
      )
      assert.deepStrictEqual(first, [{ n: 1 }, { n: 2 }, { n: 3 }])
      const after = yield* sql<{ readonly ok: boolean }>`SELECT true AS ok`
      assert.deepStrictEqual(after, [{ ok: true }])
    })
  )

  it.effect("supports pg_current_xact_id() and pg_snapshot_xmin(pg_current_snapshot())", () =>
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      // xid8 has no binary codec in @effect/sql-pg (unknown OIDs decode as UTF-8): cast to text.
      const ids = sql<{ readonly xid: string; readonly xmin: string }>`
        SELECT pg_current_xact_id()::text AS xid, pg_snapshot_xmin(pg_current_snapshot())::text AS xmin`
      const [first, again] = yield* sql.withTransaction(Effect.all([ids, ids]))
      const later = yield* sql.withTransaction(ids)
      const xid = BigInt(first?.[0]?.xid ?? "0")
      assert.isTrue(xid > 0n)
      assert.strictEqual(again?.[0]?.xid, first?.[0]?.xid)
      assert.isTrue(BigInt(first?.[0]?.xmin ?? "0") <= xid)
      assert.isTrue(BigInt(later[0]?.xid ?? "0") > xid)
      const asBigint = yield* sql<{ readonly xmin: bigint }>`
        SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin`
      assert.strictEqual(typeof asBigint[0]?.xmin, "bigint")
    })
  )
})

const temporaryDirectory = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "eventline-pglite-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

describe("PgliteClient on a data directory", () => {
  it.effect(
    "keeps data across instances on the same directory",
    () =>
      Effect.gen(function* () {
        const dataDir = join(yield* temporaryDirectory, "nested", "pgdata")
        yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          const pg = yield* PgClient.PgClient
          yield* sql`CREATE TABLE events (position BIGSERIAL PRIMARY KEY, payload JSONB NOT NULL)`
          yield* sql`INSERT INTO events (payload) VALUES (${pg.json({ kind: "Opened", lines: [1, 2] })})`
        }).pipe(Effect.provide(PgliteClient.layer({ dataDir })))
        const rows = yield* Effect.gen(function* () {
          const sql = yield* SqlClient.SqlClient
          return yield* sql<{ readonly position: bigint; readonly payload: unknown }>`SELECT * FROM events`
        }).pipe(Effect.provide(PgliteClient.layer({ dataDir })))
        assert.deepStrictEqual(rows, [{ position: 1n, payload: { kind: "Opened", lines: [1, 2] } }])
      }),
    120_000
  )

  it.effect("fails with PgliteError when the data directory cannot be created", () =>
    Effect.gen(function* () {
      const dir = yield* temporaryDirectory
      const file = join(dir, "a-file")
      writeFileSync(file, "")
      const error = yield* Effect.flip(Effect.scoped(PgliteClient.make({ dataDir: join(file, "pgdata") })))
      assert.strictEqual(error._tag, "PgliteError")
    }).pipe(Effect.provide(Reactivity.layer))
  )
})

// ---------------------------------------------------------------------------
// The wire-protocol stream, and the session it shares, against a raw instance.

const startupPacket = (parameters = ""): Buffer => {
  const body = Buffer.from(`user\0postgres\0database\0postgres\0${parameters}\0`)
  const packet = Buffer.alloc(8 + body.length)
  packet.writeInt32BE(packet.length, 0)
  packet.writeInt32BE(196608, 4)
  body.copy(packet, 8)
  return packet
}

const requestPacket = (code: number, extra = 0): Buffer => {
  const packet = Buffer.alloc(8 + extra)
  packet.writeInt32BE(packet.length, 0)
  packet.writeInt32BE(code, 4)
  return packet
}

const terminate = Buffer.from([0x58, 0, 0, 0, 4])

/** Tags of the whole backend messages in `bytes`. */
const tags = (bytes: Buffer): string => {
  let out = ""
  let offset = 0
  while (offset + 5 <= bytes.length) {
    out += String.fromCharCode(bytes[offset] ?? 0)
    offset += 1 + Math.max(4, bytes.readInt32BE(offset + 1))
  }
  return out
}

/**
 * Start listening to the stream now (before the write whose answer it waits for), and give back
 * an effect that yields everything it sent until `done` holds, or `undefined` after `ms`.
 */
const readUntil = (stream: Duplex, done: (bytes: Buffer) => boolean, ms = 5000) =>
  Effect.gen(function* () {
    const answer = yield* Deferred.make<Buffer, Error>()
    let bytes = Buffer.alloc(0)
    const onData = (chunk: Buffer) => {
      bytes = Buffer.concat([bytes, chunk])
      if (done(bytes)) Deferred.doneUnsafe(answer, Effect.succeed(bytes))
    }
    const onError = (error: Error) => Deferred.doneUnsafe(answer, Effect.fail(error))
    stream.on("data", onData)
    stream.once("error", onError)
    return Deferred.await(answer).pipe(
      Effect.timeoutOption(`${ms} millis`),
      Effect.map(Option.getOrUndefined),
      Effect.ensuring(
        Effect.sync(() => {
          stream.off("data", onData)
          stream.off("error", onError)
        })
      )
    )
  })

/** Start watching the stream now; the effect yields the error it closed with, if any. */
const closed = (stream: Duplex) =>
  Effect.gen(function* () {
    const result = yield* Deferred.make<Error | undefined>()
    let error: Error | undefined
    stream.once("error", (cause) => {
      error = cause
    })
    stream.once("close", () => Deferred.doneUnsafe(result, Effect.succeed(error)))
    stream.resume()
    return Deferred.await(result)
  })

const readyForQuery = (bytes: Buffer): boolean => tags(bytes).endsWith("Z")

describe("pgliteStream", () => {
  it.live(
    "speaks the protocol, shares the one session in turn and resets it between clients",
    () =>
      Effect.gen(function* () {
        const db = yield* Effect.acquireRelease(
          Effect.promise(() => PGlite.create()),
          (db) => Effect.promise(() => db.close())
        )

        // SSLRequest is refused with 'N', then the startup is answered by PGlite.
        const first = pgliteStream(db)
        const refusal = yield* readUntil(first, (bytes) => bytes.length >= 1)
        first.write(requestPacket(80877103))
        assert.strictEqual((yield* refusal)?.toString(), "N")
        const handshake = yield* readUntil(first, readyForQuery)
        first.write(startupPacket())
        assert.match(tags((yield* handshake) ?? Buffer.alloc(0)), /^RS+KZ$/)

        // A second client waits for its turn on the session...
        const second = pgliteStream(db)
        const secondHandshake = yield* readUntil(second, readyForQuery)
        second.write(startupPacket())
        const early = yield* yield* readUntil(second, readyForQuery, 200)
        assert.isUndefined(early)

        // ...and gets it once the first terminates, which leaves the database open.
        const firstClosed = yield* closed(first)
        first.end(terminate)
        assert.isUndefined(yield* firstClosed)
        assert.isFalse(db.closed)
        assert.isTrue(readyForQuery((yield* secondHandshake) ?? Buffer.alloc(0)))
        const secondClosed = yield* closed(second)
        second.end(terminate)
        yield* secondClosed

        // A CancelRequest is ignored and its stream closed.
        const cancel = pgliteStream(db)
        const cancelClosed = yield* closed(cancel)
        cancel.write(requestPacket(80877102, 8))
        assert.isUndefined(yield* cancelClosed)

        // A startup setting the server rejects refuses the connection.
        const refused = pgliteStream(db)
        const refusedAnswer = yield* readUntil(refused, (bytes) => tags(bytes).includes("E"))
        const refusedClosed = yield* closed(refused)
        refused.write(startupPacket("no_such_setting\0on\0"))
        assert.strictEqual(tags((yield* refusedAnswer) ?? Buffer.alloc(0)), "E")
        assert.isUndefined(yield* refusedClosed)

        // Malformed input is a stream error, not a crash.
        const broken = pgliteStream(db)
        const brokenClosed = yield* closed(broken)
        broken.write(Buffer.from([0, 0, 0, 2, 0, 0, 0, 0]))
        assert.match((yield* brokenClosed)?.message ?? "", /invalid startup packet length/)

        // A client that leaves mid-transaction does not leave its state to the next one.
        yield* Effect.scoped(
          Effect.gen(function* () {
            const sql = yield* PgliteClient.fromPglite(db)
            yield* sql`CREATE TABLE kept (id INT)`
            yield* sql`BEGIN`
            yield* sql`INSERT INTO kept VALUES (1)`
            yield* sql`CREATE TEMP TABLE scratch (id INT)`
            yield* sql`SET statement_timeout = '7s'`
          })
        )
        const state = yield* Effect.scoped(
          Effect.gen(function* () {
            const sql = yield* PgliteClient.fromPglite(db)
            return yield* sql<{ readonly rows: bigint; readonly scratch: string | null; readonly timeout: string }>`
              SELECT (SELECT count(*) FROM kept) AS rows,
                     to_regclass('pg_temp.scratch')::text AS scratch,
                     current_setting('statement_timeout') AS timeout`
          })
        )
        assert.deepStrictEqual(state, [{ rows: 0n, scratch: null, timeout: "0" }])
      }).pipe(Effect.provide(Reactivity.layer)),
    60_000
  )
})
