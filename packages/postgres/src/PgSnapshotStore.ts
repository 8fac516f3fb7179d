/**
 * The `SnapshotStore` on PostgreSQL (and PGlite): one row per stream, replaced only by a newer
 * snapshot (or one of another state schema version). Written outside the append's transaction.
 * The SQL is in internal/snapshotSql.ts.
 *
 * @since 0.1.0
 */
import { SnapshotStore } from "@eventline/core"
import { Effect, Layer } from "effect"
import type { SqlClient } from "effect/sql"
import * as SnapshotSql from "./internal/snapshotSql.ts"
import { PgStoreConfig } from "./PgStoreConfig.ts"

/**
 * @category constructors
 * @since 0.1.0
 */
export const make = Effect.gen(function* () {
  const config = yield* PgStoreConfig
  const snapshots = yield* SnapshotSql.make(config.schema)
  return SnapshotStore.SnapshotStore.of({ load: snapshots.load, save: snapshots.save })
})

/**
 * @category layers
 * @since 0.1.0
 */
export const layer: Layer.Layer<SnapshotStore.SnapshotStore, never, SqlClient.SqlClient> = Layer.effect(
  SnapshotStore.SnapshotStore,
  make
)
