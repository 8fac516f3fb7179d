/**
 * Core's `ProcessedEvents` inbox in SQL: each (consumer, event id) pair is a row of
 * `<schema>.processed_events` (made by migration `0004_processed_events`), recorded in the same
 * transaction as the effect, whose SQL (through the same `SqlClient`) joins it. The effect's
 * writes and the mark commit together or not at all, so a consumer's SQL side effects are
 * exactly once although its events arrive at least once.
 *
 * Gotcha: only SQL through this `SqlClient` is inside the transaction; other side effects (HTTP
 * calls, messages) can still happen twice.
 *
 * @since 0.2.0
 */
import { Errors, ProcessedEvents } from "@eventline/core"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { transaction } from "./internal/transaction.ts"
import { PgStoreConfig } from "./PgStoreConfig.ts"

/**
 * The inbox in the store's schema (`PgStoreConfig.schema`).
 *
 * Two deliveries of the same event at the same time are serialised by the primary key: the
 * second waits for the first to commit, then skips.
 *
 * @category constructors
 * @since 0.2.0
 */
export const make: Effect.Effect<ProcessedEvents.ProcessedEvents["Service"], never, SqlClient.SqlClient> = Effect.gen(
  function* () {
    const sql = yield* SqlClient.SqlClient
    const { schema } = yield* PgStoreConfig
    const table = sql(`${schema}.processed_events`)
    const inTransaction = transaction(sql, "processedEvents.transaction")
    return ProcessedEvents.ProcessedEvents.of({
      once: <A, E, R>(consumer: string, eventId: string, effect: Effect.Effect<A, E, R>) =>
        inTransaction(
          Effect.gen(function* () {
            const inserted = yield* sql`INSERT INTO ${table} (consumer, event_id)
              VALUES (${consumer}, ${eventId})
              ON CONFLICT (consumer, event_id) DO NOTHING
              RETURNING event_id`.pipe(Effect.mapError(Errors.infrastructure("processedEvents.record")))
            if (inserted.length === 0) return false
            yield* effect
            return true
          })
        )
    })
  }
)

/**
 * @category layers
 * @since 0.2.0
 */
export const layer: Layer.Layer<ProcessedEvents.ProcessedEvents, never, SqlClient.SqlClient> = Layer.effect(
  ProcessedEvents.ProcessedEvents,
  make
)
