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
import { Config, Effect, Layer, Option, type Redacted, type Schedule } from "effect"
import type { Migrator, SqlClient, SqlError } from "effect/sql"
import * as Transient from "./internal/transient.ts"
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

/**
 * Whether an `SqlError` comes from the loss of the statement's connection (a terminated backend,
 * a server restart, a reset socket): a `ConnectionError`, or the SQLSTATE 57P01/57P02/57P03/57P05
 * that `@effect/sql-pg` reports as `UnknownError` when the server's FATAL message came first.
 *
 * @category connection loss
 * @since 0.3.0
 */
export const isConnectionLoss: (error: unknown) => error is SqlError.SqlError = Transient.isConnectionLoss

/**
 * The backoff of {@link retryOnConnectionLoss}: jittered exponential from 25 ms, at most 5 retries
 * and about 1.5 s in all.
 *
 * @category connection loss
 * @since 0.3.0
 */
export const connectionLossSchedule: Schedule.Schedule<unknown, unknown> = Transient.connectionLossSchedule

/**
 * Runs an SQL effect again on a fresh connection when its connection was lost, with
 * {@link connectionLossSchedule}; inside a transaction of `sql` it never retries (the transaction
 * died with its connection: only the whole unit of work may run again). Apply it only to effects
 * that are safe to run twice: reads, and writes whose second run changes nothing. The stores of
 * this package use it on every such statement.
 *
 * @example
 * ```ts
 * import { PgStore } from "@eventline/postgres"
 * import { Effect } from "effect"
 * import { SqlClient } from "effect/sql"
 *
 * const count = Effect.gen(function* () {
 *   const sql = yield* SqlClient.SqlClient
 *   return yield* sql`SELECT count(*) FROM eventline.events`.pipe(PgStore.retryOnConnectionLoss(sql))
 * })
 * ```
 *
 * @category connection loss
 * @since 0.3.0
 */
export const retryOnConnectionLoss: (
  sql: SqlClient.SqlClient
) => <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R> = Transient.retryOnConnectionLoss
