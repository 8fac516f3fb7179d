/**
 * Benchmark 2: readAll throughput on PostgreSQL, over the log the append benchmark left behind.
 *
 * Eventline: `PgEventStore.readAll({ batchSize: 500 })` to the end (rows decoded with Schema into
 * `RecordedEvent`s, emitted as a Stream).
 * Baseline: a raw keyset-paged SELECT of the same rows and columns, ordered by global_position,
 * without the horizon; the rows are only counted.
 * Diagnostic: the raw SELECT in eventline's keyset order ((log label, position) row comparison),
 * without the horizon and not decoded: the gap between it and eventline is the JavaScript side
 * plus the horizon.
 */
import * as EventStore from "@eventline/core/EventStore"
import { Effect, Stream } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import {
  alternate,
  type BenchOptions,
  cpuNote,
  describeRounds,
  measureCounted,
  progress,
  type Rounds,
  type Section,
  throughputRow
} from "./common.ts"
import { countEvents } from "./postgres.ts"

const batchSize = 500

/** Pages through `page(cursor)` until a short page; returns the number of rows. */
const pageThrough = <C>(
  start: C,
  page: (cursor: C) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, SqlError.SqlError>,
  next: (last: Record<string, unknown>) => C
) =>
  Effect.gen(function* () {
    let cursor = start
    let count = 0
    while (true) {
      const rows = yield* page(cursor)
      count += rows.length
      const last = rows[rows.length - 1]
      if (rows.length < batchSize || last === undefined) return count
      cursor = next(last)
    }
  })

export const run = (options: BenchOptions) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore.EventStore
    const rounds: Rounds = options.quick ? { max: 2, budgetSeconds: 2 } : { max: 5, budgetSeconds: 10 }
    const sqlRounds: Rounds = options.quick ? { max: 2, budgetSeconds: 1 } : { max: 3, budgetSeconds: 5 }
    const total = yield* countEvents(sql)
    const columns = sql.literal(`e.global_position, e.transaction_id::text AS transaction_id, e.stream_id,
      e.stream_type, e.version, e.event_id::text AS event_id, e.event_type, e.schema_version, e.data, e.metadata`)

    const eventline = measureCounted(Stream.runCount(store.readAll({ batchSize })))
    const baseline = measureCounted(
      pageThrough(
        "0",
        (after) => sql`SELECT ${columns} FROM eventline.events e
          WHERE e.global_position > ${after}::bigint ORDER BY e.global_position LIMIT ${batchSize}`,
        (last) => String(last.global_position)
      )
    )
    const sameSql = measureCounted(
      pageThrough(
        { xid: "0", position: "0" },
        (after) => sql`SELECT ${columns} FROM eventline.events e
          WHERE (e.transaction_id, e.global_position) > (${after.xid}::xid8, ${after.position}::bigint)
          ORDER BY e.transaction_id, e.global_position LIMIT ${batchSize}`,
        (last) => ({ xid: String(last.transaction_id), position: String(last.global_position) })
      )
    )

    yield* progress(`PostgreSQL readAll of ${total} events: warm-up, then ${describeRounds(rounds)}`)
    yield* baseline
    yield* eventline
    yield* sameSql
    const main = yield* alternate({ rounds, baseline: () => baseline, eventline: () => eventline })
    const sqlOnly = yield* alternate({
      rounds: sqlRounds,
      baseline: () => baseline,
      eventline: () => sameSql
    })
    return {
      title: "PostgreSQL readAll",
      rows: [
        throughputRow(`PG readAll, ${total} events, batch ${batchSize}`, main, "raw keyset SELECT"),
        throughputRow(
          "  diag: raw SELECT, eventline's keyset order, no horizon, no decode",
          sqlOnly,
          "raw keyset SELECT"
        )
      ],
      notes: [
        cpuNote("PG readAll", main),
        "PG readAll: both read the same rows and columns (the driver parses jsonb for both); only eventline decodes rows with Schema into RecordedEvent."
      ]
    } satisfies Section
  })
