/**
 * The `SnapshotStore` on PostgreSQL (and PGlite): one row per stream, replaced only by a newer
 * snapshot (or one of another state schema version). Written outside the append's transaction.
 *
 * @since 0.1.0
 */
import { Errors, SnapshotStore } from "@eventline/core"
import { Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { PgStoreConfig } from "./PgStoreConfig.ts"

const SnapshotRows = Schema.Array(
  Schema.Struct({
    stream_id: Schema.String,
    stream_type: Schema.String,
    version: Schema.Int,
    schema_version: Schema.Int,
    state: Schema.Json
  })
)

const infrastructure = (operation: string) => (cause: SqlError.SqlError | Schema.SchemaError) =>
  new Errors.InfrastructureError({ operation, cause })

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const sql = yield* SqlClient.SqlClient
  const config = yield* PgStoreConfig
  const table = sql(`${config.schema}.snapshots`)

  const load = (streamId: string) =>
    sql`SELECT stream_id, stream_type, version, schema_version, state FROM ${table} WHERE stream_id = ${streamId}`.pipe(
      Effect.flatMap(Schema.decodeUnknownEffect(SnapshotRows)),
      Effect.map((rows) =>
        Option.map(Option.fromNullishOr(rows[0]), (row) => ({
          streamId: row.stream_id,
          streamType: row.stream_type,
          version: row.version,
          schemaVersion: row.schema_version,
          state: row.state
        }))
      ),
      Effect.mapError(infrastructure("snapshot.load"))
    )

  const save = (snapshot: SnapshotStore.Snapshot) =>
    sql`INSERT INTO ${table} AS s (stream_id, stream_type, version, schema_version, state)
      VALUES (${snapshot.streamId}, ${snapshot.streamType}, ${snapshot.version}::int, ${snapshot.schemaVersion}::int,
        ${JSON.stringify(snapshot.state)}::jsonb)
      ON CONFLICT (stream_id) DO UPDATE SET
        stream_type = EXCLUDED.stream_type, version = EXCLUDED.version, schema_version = EXCLUDED.schema_version,
        state = EXCLUDED.state, created_at = now()
      WHERE s.version < EXCLUDED.version OR s.schema_version <> EXCLUDED.schema_version`.pipe(
      Effect.asVoid,
      Effect.mapError(infrastructure("snapshot.save"))
    )

  return SnapshotStore.SnapshotStore.of({ load, save })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<SnapshotStore.SnapshotStore, never, SqlClient.SqlClient> = Layer.effect(
  SnapshotStore.SnapshotStore,
  make
)
