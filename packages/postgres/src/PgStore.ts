/**
 * Ready-made store layers: the event store, the snapshot store, commit wake-ups and the
 * subscription ports (checkpoints, dead letters, deadlines, unit of work), migrated at start-up,
 * over PostgreSQL or over the embedded PGlite.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import { CommitSignal, type EventStore, type SnapshotStore } from "@eventline/core"
import { type Config, Layer } from "effect"
import type { Migrator, SqlClient, SqlError } from "effect/sql"
import * as Migrations from "./Migrations.ts"
import * as PgCommitSignal from "./PgCommitSignal.ts"
import * as PgEventStore from "./PgEventStore.ts"
import * as PgliteClient from "./PgliteClient.ts"
import * as PgSnapshotStore from "./PgSnapshotStore.ts"
import * as PgSubscriptionStores from "./PgSubscriptionStores.ts"

/**
 * What the store layers provide.
 *
 * @category models
 * @since 0.1.0
 */
export type Services =
  | EventStore.EventStore
  | SnapshotStore.SnapshotStore
  | CommitSignal.CommitSignal
  | PgSubscriptionStores.Services
  | SqlClient.SqlClient
  | PgClient.PgClient

const stores = Layer.mergeAll(PgEventStore.layer, PgSnapshotStore.layer, PgSubscriptionStores.layer)

/**
 * The embedded store: PGlite in this process, its data in `dataDir` (created if missing) or in
 * memory when `dataDir` is undefined. Wake-ups are an in-process signal after each commit.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerEmbedded = (
  options: PgliteClient.PgliteClientOptions = {}
): Layer.Layer<Services, PgliteClient.PgliteError | SqlError.SqlError | Migrator.MigrationError> =>
  stores.pipe(
    Layer.provideMerge(CommitSignal.layerInProcess),
    Layer.provideMerge(Migrations.layer),
    Layer.provideMerge(PgliteClient.layer(options))
  )

/**
 * The store on PostgreSQL. Wake-ups come from LISTEN/NOTIFY.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (
  config: PgClient.PgPoolConfig
): Layer.Layer<Services, SqlError.SqlError | Migrator.MigrationError> =>
  stores.pipe(
    Layer.provideMerge(PgCommitSignal.layer),
    Layer.provideMerge(Migrations.layer),
    Layer.provideMerge(PgClient.layer(config))
  )

/**
 * The store on PostgreSQL, configured from `Config` (e.g. `{ url: Config.Redacted("DATABASE_URL") }`).
 *
 * @category layers
 * @since 0.1.0
 */
export const layerConfig = (
  config: Config.Wrap<PgClient.PgPoolConfig>
): Layer.Layer<Services, SqlError.SqlError | Migrator.MigrationError | Config.ConfigError> =>
  stores.pipe(
    Layer.provideMerge(PgCommitSignal.layer),
    Layer.provideMerge(Migrations.layer),
    Layer.provideMerge(PgClient.layerConfig(config))
  )
