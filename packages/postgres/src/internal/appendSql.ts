/**
 * The SQL of an append: one statement, whatever the number of events. A data-modifying CTE bumps
 * the stream's row only if the expectation holds (`UPDATE ... WHERE version = $expected`,
 * `INSERT ... ON CONFLICT DO NOTHING`) and inserts every event, numbered from the bumped version,
 * from parallel arrays (`unnest(...) WITH ORDINALITY`).
 * Row locks serialise writers to one stream, so two appends with the same expectation can never
 * both pass; the loser sees zero rows.
 *
 * Log order. The global log is read in (transaction_id, global_position) order, only below a
 * horizon that open appends hold back (readSql.ts). `events.transaction_id` is not the writer's
 * xid but a label: `greatest(pg_current_xact_id(), streams.last_transaction_id, clock)`, computed
 * in the statement that bumps the stream's row and stored back there. That statement runs under
 * the row lock, and READ COMMITTED evaluates it on the latest row version once the lock is
 * granted, so an append's label is >= the label of the stream's previous append; equal labels are
 * ordered by global_position, which an append draws after the previous one committed. So each
 * stream's events appear in the log in version order, even when the writer got its xid before an
 * append that committed earlier (a unit of work that wrote something else first).
 *
 * The horizon. Every append holds the store's advisory lock (`appendLock`) in SHARED mode until
 * its transaction ends (appenders never wait for each other; the lock is per database and per
 * schema), taken in the statement's `guard` before anything is written, so before the statement
 * assigns an xid. A reader bounds the log by the xids of that lock's holders (readSql.ts): a
 * transaction that never appends, in this database or any other, cannot hold readers back.
 * `clock` is `pg_snapshot_xmax(statement snapshot) - 1`, the newest transaction completed when the
 * statement started: it keeps the label of a transaction that got its xid before taking the lock
 * (wrote something else first) at or above the horizon of any reader that ran before it took the
 * lock. That needs the statement's snapshot to be taken after the lock is held: inside a
 * transaction the store takes the lock in a statement of its own before the first append of each
 * transaction level (PgEventStore.ts); outside one the xid is assigned after the lock, so the xid
 * alone is recent enough. Under REPEATABLE READ the snapshot is the transaction's first: a
 * transaction that writes before its first append there is not covered (documented limit).
 * Minus one, not xmax itself: a committed label must end up below the xmax of later snapshots,
 * or it would wait for some newer transaction to complete.
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

/**
 * The advisory lock every append holds in shared mode, as `pg_advisory_xact_lock_shared(classid,
 * objid)` (pg_locks shows it with objsubid 2): a constant and a hash of the schema, so stores in
 * other schemas of the database do not hold each other's readers back.
 */
export const appendLock = (schema: string): { readonly classid: number; readonly objid: number } => {
  // FNV-1a, 31 bits: pg_locks shows the keys as oid, a non-negative int4 reads the same in both
  let hash = 0x811c9dc5
  for (const byte of new TextEncoder().encode(schema)) hash = Math.imul(hash ^ byte, 0x01000193)
  return { classid: 0x45564c4e, objid: (hash >>> 0) & 0x7fffffff }
}

/** The statement that takes the append lock ahead of a transaction's first append (see the module comment). */
export const lockStatement = (schema: string): string => {
  const { classid, objid } = appendLock(schema)
  return `SELECT pg_advisory_xact_lock_shared(${classid}, ${objid})`
}

/** The newest transaction completed when the statement's snapshot was taken (xid8 has no arithmetic). */
const clock = "(pg_snapshot_xmax(pg_current_snapshot())::text::bigint - 1)::text::xid8"

// $1 stream id, $2 stream type, $3 event count, $4..$8 event ids, types, schema versions, data,
// metadata, $9 the expected version (Exact only: PostgreSQL refuses a parameter it cannot type).
// Each returns the bumped version and the append's log-order label (see the module comment).
const bumpStream = (streamsTable: string, kind: ExpectedVersion.ExpectedVersion["_tag"] | "New"): string => {
  const label = `greatest(pg_current_xact_id(), s.last_transaction_id, ${clock})`
  const first = `greatest(pg_current_xact_id(), ${clock})`
  switch (kind) {
    case "Any":
      return `INSERT INTO ${streamsTable} AS s (stream_id, stream_type, version, last_transaction_id)
        SELECT $1::text, $2::text, $3::int, ${first} FROM guard
        ON CONFLICT (stream_id) DO UPDATE SET version = s.version + EXCLUDED.version, last_transaction_id = ${label},
          updated_at = now()
        WHERE s.stream_type = EXCLUDED.stream_type
        RETURNING version, last_transaction_id`
    case "New":
    case "NoStream":
      return `INSERT INTO ${streamsTable} (stream_id, stream_type, version, last_transaction_id)
        SELECT $1::text, $2::text, $3::int, ${first} FROM guard
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
  const key = appendLock(options.schema)
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
    // the lock comes first: every write of the statement reads guard's row (see the module comment)
    const lock = `pg_advisory_xact_lock_shared(${key.classid}, ${key.objid})`
    const guard = checkIds
      ? `SELECT ${lock} WHERE NOT EXISTS (SELECT FROM ${eventsTable} e WHERE e.event_id = ANY($4::uuid[]))`
      : `SELECT ${lock}`
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
