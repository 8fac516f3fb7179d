/**
 * The SQL of the store-backed event bus: topic logs (`bus_records`, offsets allocated under the
 * topic's row lock in `bus_topics`, so they commit in order and a reader never skips one), and
 * consumer groups' committed offsets with a lease (`bus_offsets`, every write fenced by its owner).
 */
import { CheckpointStore, Errors, EventEnvelope } from "@eventline/core"
import { Duration, Effect, Option, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"

/** A record as it is written. */
export interface Entry {
  readonly key: string | undefined
  readonly event: EventEnvelope.RecordedEvent
  readonly headers: Readonly<Record<string, string>>
}

const Headers = Schema.Record(Schema.String, Schema.String)

const RecordRow = Schema.Struct({
  record_offset: Schema.BigInt,
  record_key: Schema.NullOr(Schema.String),
  event: Schema.fromJsonString(EventEnvelope.RecordedEvent),
  headers: Schema.fromJsonString(Headers)
})

/** A record as it is read back. */
export interface StoredRecord extends Entry {
  readonly offset: number
}

const OffsetRow = Schema.Struct({ next_offset: Schema.BigInt })
const EndRow = Schema.Struct({ next_offset: Schema.BigInt, low: Schema.NullOr(Schema.BigInt) })
const Member = Schema.Struct({ group: Schema.String, topic: Schema.String })

const encodeEvent = Schema.encodeSync(Schema.fromJsonString(EventEnvelope.RecordedEvent))
const encodeHeaders = Schema.encodeSync(Schema.fromJsonString(Headers))

/** @internal */
export const migrations = (schema: string) => ({
  "0001_bus": Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(`${schema}.bus_topics`)} (
      topic text PRIMARY KEY,
      next_offset bigint NOT NULL
    )`
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(`${schema}.bus_records`)} (
      topic text NOT NULL,
      record_offset bigint NOT NULL,
      record_key text,
      event jsonb NOT NULL,
      headers jsonb NOT NULL,
      PRIMARY KEY (topic, record_offset)
    )`
    yield* sql`CREATE TABLE IF NOT EXISTS ${sql(`${schema}.bus_offsets`)} (
      group_id text NOT NULL,
      topic text NOT NULL,
      next_offset bigint NOT NULL,
      owner text,
      lease_expires_at timestamptz,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (group_id, topic)
    )`
  })
})

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`

/** @internal */
export const make = (schema: string) =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const topics = sql(`${schema}.bus_topics`)
    const records = sql(`${schema}.bus_records`)
    const offsets = sql(`${schema}.bus_offsets`)
    const s = quote(schema)

    // one statement: the topic's row lock allocates the offsets and is held until commit
    const appendText = `WITH bump AS (
        INSERT INTO ${s}.bus_topics AS t (topic, next_offset) VALUES ($1::text, $2::bigint)
        ON CONFLICT (topic) DO UPDATE SET next_offset = t.next_offset + $2::bigint
        RETURNING t.next_offset - $2::bigint AS first
      )
      INSERT INTO ${s}.bus_records (topic, record_offset, record_key, event, headers)
      SELECT $1::text, bump.first + v.ordinal - 1, v.record_key, v.event, v.headers
      FROM bump CROSS JOIN unnest($3::text[], $4::jsonb[], $5::jsonb[]) WITH ORDINALITY AS v(record_key, event, headers, ordinal)
      RETURNING record_offset`.replace(/\s+/g, " ")

    /** Append records; the offset after the last one. */
    const append = (topic: string, entries: ReadonlyArray<Entry>) =>
      Effect.gen(function* () {
        const rows = yield* sql.unsafe(appendText, [
          topic,
          entries.length,
          entries.map((entry) => entry.key ?? null),
          entries.map((entry) => encodeEvent(entry.event)),
          entries.map((entry) => encodeHeaders(entry.headers))
        ]).values
        let end = 0
        for (const [offset] of rows) end = Math.max(end, Number(offset) + 1)
        return end
      }).pipe(Effect.mapError(Errors.infrastructure("bus.publish")))

    const trim = (topic: string, below: number) =>
      sql`DELETE FROM ${records} WHERE topic = ${topic} AND record_offset < ${below}::bigint`.pipe(
        Effect.asVoid,
        Effect.mapError(Errors.infrastructure("bus.trim"))
      )

    const readPage = SqlSchema.findAll({
      Request: Schema.Struct({ topic: Schema.String, from: Schema.Number, limit: Schema.Number }),
      Result: RecordRow,
      execute: ({ from, limit, topic }) =>
        sql`SELECT record_offset, record_key, event::text AS event, headers::text AS headers FROM ${records}
          WHERE topic = ${topic} AND record_offset >= ${from}::bigint ORDER BY record_offset LIMIT ${limit}::int`
    })
    const read = (topic: string, from: number, limit: number) =>
      readPage({ topic, from, limit }).pipe(
        Effect.map((rows) =>
          rows.map(
            (row): StoredRecord => ({
              offset: Number(row.record_offset),
              key: row.record_key ?? undefined,
              event: row.event,
              headers: row.headers
            })
          )
        ),
        Effect.mapError(Errors.infrastructure("bus.read"))
      )

    const endQuery = SqlSchema.findOneOption({
      Request: Schema.String,
      Result: EndRow,
      execute: (topic) =>
        sql`SELECT t.next_offset, (SELECT min(r.record_offset) FROM ${records} r WHERE r.topic = t.topic) AS low
          FROM ${topics} t WHERE t.topic = ${topic}`
    })
    /** The next offset of a topic and its oldest kept record's (both 0 for a topic never written). */
    const bounds = (topic: string) =>
      endQuery(topic).pipe(
        Effect.map(
          Option.match({
            onNone: () => ({ end: 0, low: 0 }),
            onSome: (row) => ({ end: Number(row.next_offset), low: Number(row.low ?? row.next_offset) })
          })
        ),
        Effect.mapError(Errors.infrastructure("bus.endOffset"))
      )

    const acquireQuery = SqlSchema.findOneOption({
      Request: Schema.Struct({
        group: Schema.String,
        topic: Schema.String,
        owner: Schema.String,
        ttlMillis: Schema.Number,
        fromBeginning: Schema.Boolean
      }),
      Result: OffsetRow,
      execute: (request) =>
        sql`INSERT INTO ${offsets} AS o (group_id, topic, next_offset, owner, lease_expires_at)
          VALUES (${request.group}, ${request.topic},
            ${request.fromBeginning ? sql`0` : sql`COALESCE((SELECT next_offset FROM ${topics} WHERE topic = ${request.topic}), 0)`},
            ${request.owner}, now() + ${request.ttlMillis}::int * interval '1 millisecond')
          ON CONFLICT (group_id, topic) DO UPDATE SET owner = EXCLUDED.owner, lease_expires_at = EXCLUDED.lease_expires_at
          WHERE o.owner IS NULL OR o.owner = EXCLUDED.owner OR o.lease_expires_at < now()
          RETURNING o.next_offset`
    })
    /** Take the group's lease on the topic: its committed offset, or none while another member holds it. */
    const acquire = (group: string, topic: string, owner: string, ttl: Duration.Duration, fromBeginning: boolean) =>
      acquireQuery({ group, topic, owner, ttlMillis: Math.ceil(Duration.toMillis(ttl)), fromBeginning }).pipe(
        Effect.map(Option.map((row) => Number(row.next_offset))),
        Effect.mapError(Errors.infrastructure("bus.join"))
      )

    const lost = (group: string, topic: string) => new CheckpointStore.LeaseLost({ subscription: `${group}/${topic}` })
    const fenced =
      (group: string, topic: string) =>
      <E>(rows: Effect.Effect<ReadonlyArray<unknown>, E>) =>
        Effect.flatMap(rows, (found) => (found.length === 0 ? Effect.fail(lost(group, topic)) : Effect.void))

    const renew = (group: string, topic: string, owner: string, ttl: Duration.Duration) =>
      sql`UPDATE ${offsets} SET lease_expires_at = now() + ${Math.ceil(Duration.toMillis(ttl))}::int * interval '1 millisecond'
        WHERE group_id = ${group} AND topic = ${topic} AND owner = ${owner} RETURNING group_id`.pipe(
        Effect.mapError(Errors.infrastructure("bus.heartbeat")),
        fenced(group, topic)
      )

    const release = (group: string, topic: string, owner: string) =>
      sql`UPDATE ${offsets} SET owner = NULL, lease_expires_at = NULL
        WHERE group_id = ${group} AND topic = ${topic} AND owner = ${owner}`.pipe(
        Effect.asVoid,
        Effect.mapError(Errors.infrastructure("bus.leave"))
      )

    const commit = (group: string, topic: string, owner: string, next: number) =>
      sql`UPDATE ${offsets} SET next_offset = ${next}::bigint, updated_at = now()
        WHERE group_id = ${group} AND topic = ${topic} AND owner = ${owner} RETURNING group_id`.pipe(
        Effect.mapError(Errors.infrastructure("bus.commit")),
        fenced(group, topic)
      )

    const committedQuery = SqlSchema.findOneOption({
      Request: Member,
      Result: OffsetRow,
      execute: ({ group, topic }) =>
        sql`SELECT next_offset FROM ${offsets} WHERE group_id = ${group} AND topic = ${topic}`
    })
    const committed = (group: string, topic: string) =>
      committedQuery({ group, topic }).pipe(
        Effect.map(Option.map((row) => Number(row.next_offset))),
        Effect.mapError(Errors.infrastructure("bus.committed"))
      )

    return { append, trim, read, bounds, acquire, renew, release, commit, committed } as const
  })
