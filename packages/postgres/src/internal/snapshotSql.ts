/**
 * The SQL of snapshots: one row per stream, replaced only by a newer snapshot (or one of another
 * state schema version).
 */
import { Errors, type SnapshotStore } from "@eventline/core"
import { Effect, Option, Schema } from "effect"
import { SqlClient, SqlSchema } from "effect/sql"
import { retryOnConnectionLoss } from "./transient.ts"

const SnapshotRow = Schema.Struct({
  stream_id: Schema.String,
  stream_type: Schema.String,
  version: Schema.Int,
  schema_version: Schema.Int,
  state: Schema.Json
})

const toSnapshot = (row: typeof SnapshotRow.Type): SnapshotStore.Snapshot => ({
  streamId: row.stream_id,
  streamType: row.stream_type,
  version: row.version,
  schemaVersion: row.schema_version,
  state: row.state
})

/** The snapshot statements over the table of `schema`. */
export const make = Effect.fnUntraced(function* (schema: string) {
  const sql = yield* SqlClient.SqlClient
  const table = sql(`${schema}.snapshots`)
  // a load, and a save that replaces only an older snapshot: both safe to run again
  const retry = retryOnConnectionLoss(sql)

  const find = SqlSchema.findOneOption({
    Request: Schema.String,
    Result: SnapshotRow,
    execute: (streamId) =>
      sql`SELECT stream_id, stream_type, version, schema_version, state FROM ${table} WHERE stream_id = ${streamId}`
  })

  /** The stream's snapshot, if any. */
  const load = (streamId: string) =>
    find(streamId).pipe(
      retry,
      Effect.map(Option.map(toSnapshot)),
      Effect.mapError(Errors.infrastructure("snapshot.load"))
    )

  /** Store the snapshot unless a newer one (of the same state schema version) is there. */
  const save = (snapshot: SnapshotStore.Snapshot) =>
    sql`INSERT INTO ${table} AS s (stream_id, stream_type, version, schema_version, state)
      VALUES (${snapshot.streamId}, ${snapshot.streamType}, ${snapshot.version}::int, ${snapshot.schemaVersion}::int,
        ${JSON.stringify(snapshot.state)}::jsonb)
      ON CONFLICT (stream_id) DO UPDATE SET
        stream_type = EXCLUDED.stream_type, version = EXCLUDED.version, schema_version = EXCLUDED.schema_version,
        state = EXCLUDED.state, created_at = now()
      WHERE s.version < EXCLUDED.version OR s.schema_version <> EXCLUDED.schema_version`.pipe(
      retry,
      Effect.asVoid,
      Effect.mapError(Errors.infrastructure("snapshot.save"))
    )

  return { load, save } as const
})
