/**
 * Exactly-once effects for at-least-once consumers (an inbox): a consumer whose handler writes
 * to SQL records each event id it processed in the same transaction as its writes, so a
 * redelivered event is recognised and skipped.
 *
 * The table `processed_events (consumer, event_id, processed_at)` lives in a configurable
 * schema (default `eventline`) and is created by `migrate` (or `layer`, at start-up).
 *
 * @example
 * ```ts
 * const handler = (event: RecordedEvent) =>
 *   ProcessedEvents.once("order-projection", event.eventId,
 *     sql`INSERT INTO orders ${sql.insert({ id: event.streamId })}`)
 * ```
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

/**
 * @category models
 * @since 0.1.0
 */
export interface ProcessedEventsOptions {
  /** The schema of the `processed_events` table. Default `"eventline"`. */
  readonly schema?: string | undefined
}

const schemaOf = (options: ProcessedEventsOptions | undefined): string => options?.schema ?? "eventline"

/**
 * Create the schema (if missing) and the `processed_events` table (if missing). Safe to run at
 * every start and from several processes at once (it takes an advisory lock).
 *
 * @category migrations
 * @since 0.1.0
 */
export const migrate = (
  options?: ProcessedEventsOptions
): Effect.Effect<void, SqlError.SqlError, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const schema = schemaOf(options)
    yield* sql.withTransaction(
      Effect.gen(function* () {
        // CREATE ... IF NOT EXISTS is not safe against a concurrent CREATE: serialise them
        yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`${schema}.processed_events`}))`
        yield* sql`CREATE SCHEMA IF NOT EXISTS ${sql(schema)}`
        yield* sql`CREATE TABLE IF NOT EXISTS ${sql(`${schema}.processed_events`)} (
          consumer text NOT NULL,
          event_id uuid NOT NULL,
          processed_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (consumer, event_id)
        )`
      })
    )
  })

/**
 * Runs `migrate` when the layer is built.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options?: ProcessedEventsOptions): Layer.Layer<never, SqlError.SqlError, SqlClient.SqlClient> =>
  Layer.effectDiscard(migrate(options))

/**
 * Run `effect` once per (`consumer`, `eventId`): in one transaction, record the pair and, only
 * if it was not recorded before, run `effect`, whose SQL (through the same `SqlClient`) joins
 * the transaction. Succeeds with `true` if the effect ran, `false` if the event had already
 * been processed by this consumer.
 *
 * If `effect` fails, the transaction rolls back, the pair is not recorded and a retry runs
 * the effect again. Two deliveries of the same event at the same time are serialised by the
 * primary key: the second waits for the first to commit, then skips.
 *
 * Gotcha: only SQL through this `SqlClient` is inside the transaction; other side effects
 * (HTTP calls, messages) can still happen twice.
 *
 * @category running
 * @since 0.1.0
 */
export const once = <A, E, R>(
  consumer: string,
  eventId: string,
  effect: Effect.Effect<A, E, R>,
  options?: ProcessedEventsOptions
): Effect.Effect<boolean, E | SqlError.SqlError, R | SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const table = sql(`${schemaOf(options)}.processed_events`)
    return yield* sql.withTransaction(
      Effect.gen(function* () {
        const inserted = yield* sql`INSERT INTO ${table} (consumer, event_id)
          VALUES (${consumer}, ${eventId})
          ON CONFLICT (consumer, event_id) DO NOTHING
          RETURNING event_id`
        if (inserted.length === 0) return false
        yield* effect
        return true
      })
    )
  })
