/**
 * The SQL of an append: one statement, whatever the number of events. A data-modifying CTE bumps
 * the stream's row only if the expectation holds (`UPDATE ... WHERE version = $expected`,
 * `INSERT ... ON CONFLICT DO NOTHING`) and inserts every event, numbered from the bumped version,
 * from parallel arrays (`unnest(...) WITH ORDINALITY`).
 * Row locks serialise writers to one stream, so two appends with the same expectation can never
 * both pass; the loser sees zero rows.
 *
 * Log order. The global log is read in (transaction_id, global_position) order, only below the
 * oldest running transaction (readSql.ts). `events.transaction_id` is not the writer's xid but a
 * label: `greatest(pg_current_xact_id(), streams.last_transaction_id)`, computed in the statement
 * that bumps the stream's row and stored back there. That statement runs under the row lock, and
 * READ COMMITTED evaluates it on the latest row version once the lock is granted, so an append's
 * label is >= the label of the stream's previous append; equal labels are ordered by
 * global_position, which an append draws after the previous one committed. So each stream's events
 * appear in the log in version order, even when the writer got its xid before an append that
 * committed earlier (a unit of work that wrote something else first): the raw xid would put it
 * first. No advisory lock is needed to make a waiter's xid the larger one (an earlier version took
 * one per stream): the order no longer depends on when a writer got its xid.
 * Gap safety is kept: a row's label is >= its writer's xid, so while the writer runs the horizon
 * (<= its xid) stays at or below the label and no reader moves past the row before it commits.
 * Once the horizon is above a label L, every transaction with an xid <= L has ended and any later
 * one gets an xid, hence a label, > L: no row with a label <= L can still appear. Rows with equal
 * labels are ordered by global_position, which follows insertion order.
 *
 * The text depends only on the kind of expectation and on two switches, never on the events: it
 * is built once per shape and the driver keeps it prepared, so an append costs a Bind/Execute and
 * no statement compilation.
 */
import type { EventStore, ExpectedVersion, Position } from "@eventline/core"
import { Effect } from "effect"
import { SqlClient, SqlError } from "effect/sql"

/** What one inserted event row reports back, in version order: its position (formatted by the server). */
export interface InsertedRow {
  readonly position: Position.Position
  readonly version: number
}

/** One append: all its events to one stream. */
export interface AppendRequest {
  readonly streamId: string
  readonly streamType: string
  readonly expected: ExpectedVersion.ExpectedVersion
  readonly events: ReadonlyArray<EventStore.IdentifiedEvent>
  readonly serialized: ReadonlyArray<EventStore.SerializedEvent>
  /**
   * The caller chose the event ids: write nothing when any is stored already (the rows come back
   * empty, and the store looks for the earlier append). Without this a retry would fail on the
   * unique index, which aborts a surrounding transaction.
   */
  readonly checkIds: boolean
}

// $1 stream id, $2 stream type, $3 event count, $4..$8 event ids, types, schema versions, data,
// metadata, $9 the expected version (Exact only: PostgreSQL refuses a parameter it cannot type).
// Each returns the bumped version and the append's log-order label (see the module comment).
const bumpStream = (streamsTable: string, kind: ExpectedVersion.ExpectedVersion["_tag"] | "New"): string => {
  const label = "greatest(pg_current_xact_id(), s.last_transaction_id)"
  switch (kind) {
    case "Any":
      return `INSERT INTO ${streamsTable} AS s (stream_id, stream_type, version, last_transaction_id)
        SELECT $1::text, $2::text, $3::int, pg_current_xact_id() FROM guard
        ON CONFLICT (stream_id) DO UPDATE SET version = s.version + EXCLUDED.version, last_transaction_id = ${label},
          updated_at = now()
        WHERE s.stream_type = EXCLUDED.stream_type
        RETURNING version, last_transaction_id`
    case "New":
    case "NoStream":
      return `INSERT INTO ${streamsTable} (stream_id, stream_type, version, last_transaction_id)
        SELECT $1::text, $2::text, $3::int, pg_current_xact_id() FROM guard
        ON CONFLICT (stream_id) DO NOTHING
        RETURNING version, last_transaction_id`
    case "StreamExists":
      return `UPDATE ${streamsTable} AS s SET version = s.version + $3::int, last_transaction_id = ${label}, updated_at = now()
        WHERE s.stream_id = $1::text AND s.stream_type = $2::text AND EXISTS (SELECT FROM guard)
        RETURNING version, last_transaction_id`
    case "Exact":
      return `UPDATE ${streamsTable} AS s SET version = s.version + $3::int, last_transaction_id = ${label}, updated_at = now()
        WHERE s.stream_id = $1::text AND s.stream_type = $2::text AND s.version = $9::int AND EXISTS (SELECT FROM guard)
        RETURNING version, last_transaction_id`
  }
}

/** The append statements over the tables of `schema`, announcing on `notifyChannel` when `notify`. */
export const make = Effect.fnUntraced(function* (options: {
  readonly schema: string
  readonly notifyChannel: string
  readonly notify: boolean
}) {
  const sql = yield* SqlClient.SqlClient
  const quote = (name: string) => `"${name.replaceAll('"', '""')}"`
  // names go in after the whitespace is collapsed (they may hold spaces of their own)
  const streamsTable = "\u0001schema.streams"
  const eventsTable = "\u0001schema.events"
  const channel = "\u0001channel"
  const withNames = (text: string) =>
    text
      .replace(/\s+/g, " ")
      .replaceAll("\u0001schema", quote(options.schema))
      .replaceAll("\u0001channel", `'${options.notifyChannel.replaceAll("'", "''")}'`)

  const statementText = (kind: ExpectedVersion.ExpectedVersion["_tag"] | "New", checkIds: boolean): string => {
    const guard = checkIds
      ? `SELECT WHERE NOT EXISTS (SELECT FROM ${eventsTable} e WHERE e.event_id = ANY($4::uuid[]))`
      : "SELECT"
    const notified = options.notify
      ? `,
    notified AS (
      SELECT pg_notify(${channel}, json_build_object(
        'streamType', $2::text,
        'position', lpad(max(transaction_id)::text, 20, '0') || '-' || lpad(max(global_position)::text, 20, '0')
      )::text) FROM inserted HAVING count(*) > 0
    )`
      : ""
    return `WITH guard AS (${guard}),
    bump AS (${bumpStream(streamsTable, kind)}),
    inserted AS (
      INSERT INTO ${eventsTable} (transaction_id, stream_id, stream_type, version, event_id, event_type, schema_version, data, metadata)
      SELECT bump.last_transaction_id, $1::text, $2::text, bump.version - $3::int + v.ordinal::int,
        v.event_id, v.event_type, v.schema_version, v.data, v.metadata
      FROM bump CROSS JOIN unnest($4::uuid[], $5::text[], $6::int[], $7::jsonb[], $8::jsonb[])
        WITH ORDINALITY AS v(event_id, event_type, schema_version, data, metadata, ordinal)
      RETURNING global_position, transaction_id, version
    )${notified}
    SELECT lpad(i.transaction_id::text, 20, '0') || '-' || lpad(i.global_position::text, 20, '0'), i.version
    FROM inserted i${options.notify ? " WHERE (SELECT count(*) FROM notified) >= 0" : ""} ORDER BY i.version`
  }

  // built on first use: at most 5 kinds x 2
  const texts = new Map<string, string>()
  const textFor = (expected: ExpectedVersion.ExpectedVersion, checkIds: boolean): string => {
    const kind = expected._tag === "Exact" && expected.version === 0 ? "New" : expected._tag
    const key = `${kind}/${checkIds}`
    let text = texts.get(key)
    if (text === undefined) {
      // one line: the driver keys its prepared statements by the text, hashed on every call
      text = withNames(statementText(kind, checkIds))
      texts.set(key, text)
    }
    return text
  }

  const malformed = (detail: string) =>
    new SqlError.SqlError({
      reason: new SqlError.UnknownError({ cause: new Error(detail), message: `append: ${detail}`, operation: "append" })
    })

  /**
   * Bumps the stream and inserts every event, in one statement. No rows when the expectation did
   * not hold (or the stream has another type, or `checkIds` found a stored id).
   */
  const append = (request: AppendRequest): Effect.Effect<ReadonlyArray<InsertedRow>, SqlError.SqlError> => {
    const { events, serialized } = request
    const count = events.length
    const ids = new Array<string>(count)
    const types = new Array<string>(count)
    const schemaVersions = new Array<number>(count)
    const data = new Array<string>(count)
    const metadata = new Array<string>(count)
    for (let index = 0; index < count; index++) {
      const event = events[index] as EventStore.IdentifiedEvent
      const json = serialized[index] as EventStore.SerializedEvent
      ids[index] = event.eventId
      types[index] = event.type
      schemaVersions[index] = event.schemaVersion
      data[index] = json.data
      metadata[index] = json.metadata
    }
    const params: Array<unknown> = [
      request.streamId,
      request.streamType,
      count,
      ids,
      types,
      schemaVersions,
      data,
      metadata
    ]
    if (request.expected._tag === "Exact" && request.expected.version > 0) params.push(request.expected.version)
    return Effect.flatMap(sql.unsafe(textFor(request.expected, request.checkIds), params).values, (rows) => {
      if (rows.length === 0) return Effect.succeed([])
      // what we get back is what we just wrote: check its shape, not every field through a schema
      if (rows.length !== count) return Effect.fail(malformed(`${rows.length} rows for ${count} events`))
      const inserted = new Array<InsertedRow>(count)
      for (let index = 0; index < count; index++) {
        const [position, version] = rows[index] as ReadonlyArray<unknown>
        if (typeof position !== "string" || position.length !== 41 || typeof version !== "number") {
          return Effect.fail(malformed(`unexpected row ${String(rows[index])}`))
        }
        inserted[index] = { position: position as Position.Position, version }
      }
      return Effect.succeed(inserted)
    })
  }

  return { append } as const
})
