/**
 * Ready-made store layers: the event store, the snapshot store, commit wake-ups and the
 * subscription ports (checkpoints, dead letters, deadlines, unit of work), migrated at start-up,
 * over PostgreSQL or over the embedded PGlite.
 *
 * @since 0.1.0
 */
import { PgClient } from "@effect/sql-pg"
import {
  CommitSignal,
  type EventStore,
  type IdempotencyStore,
  type ProcessedEvents,
  type SnapshotStore
} from "@eventline/core"
import { Config, Effect, Layer, Option, type Redacted } from "effect"
import type { Migrator, SqlClient, SqlError } from "effect/sql"
import * as Migrations from "./Migrations.ts"
import * as PgCommitSignal from "./PgCommitSignal.ts"
import * as PgEventStore from "./PgEventStore.ts"
import * as PgIdempotencyStore from "./PgIdempotencyStore.ts"
import * as PgliteClient from "./PgliteClient.ts"
import * as PgProcessedEvents from "./PgProcessedEvents.ts"
import * as PgSnapshotStore from "./PgSnapshotStore.ts"
import { PgStoreConfig } from "./PgStoreConfig.ts"
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
  | IdempotencyStore.IdempotencyStore
  | ProcessedEvents.ProcessedEvents
  | SqlClient.SqlClient
  | PgClient.PgClient

const stores = Layer.mergeAll(
  PgEventStore.layer,
  PgSnapshotStore.layer,
  PgSubscriptionStores.layer,
  PgIdempotencyStore.layer(),
  PgProcessedEvents.layer
)

/** PGlite has no other session to wake: no NOTIFY, unless the app asked for one. */
const withoutNotify = Layer.effect(
  PgStoreConfig,
  Effect.map(PgStoreConfig, (config) => ({ ...config, notifyMode: config.notifyMode ?? "none" }))
)

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
    Layer.provide(withoutNotify),
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

/**
 * The store chosen by configuration: PostgreSQL when `DATABASE_URL` is set, else the embedded
 * PGlite, in `EVENTLINE_DATA_DIR` when that is set (and not `memory`), else in memory. The same
 * application runs on either without a code change.
 *
 * @example
 * ```ts
 * import { PgStore } from "@eventline/postgres"
 *
 * const Store = PgStore.layerFromConfig()
 * ```
 *
 * @category layers
 * @since 0.2.0
 */
export const layerFromConfig = (
  options: {
    readonly databaseUrl?: Config.Config<Option.Option<Redacted.Redacted>> | undefined
    readonly dataDir?: Config.Config<Option.Option<string>> | undefined
  } = {}
): Layer.Layer<Services, PgliteClient.PgliteError | SqlError.SqlError | Migrator.MigrationError | Config.ConfigError> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const url = yield* options.databaseUrl ?? Config.option(Config.Redacted("DATABASE_URL"))
      const dataDir = yield* options.dataDir ?? Config.option(Config.String("EVENTLINE_DATA_DIR"))
      const embedded = Option.filter(dataDir, (dir) => dir !== "memory")
      return Option.isSome(url)
        ? (layer({ url: url.value }) as Layer.Layer<Services, SqlError.SqlError | Migrator.MigrationError>)
        : layerEmbedded({ dataDir: Option.getOrUndefined(embedded) })
    })
  )
