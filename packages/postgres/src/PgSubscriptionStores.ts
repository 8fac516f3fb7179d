/**
 * The subscription ports on PostgreSQL and PGlite: checkpoints with leases, dead letters,
 * process-manager deadlines, and the unit of work (an SQL transaction) that makes a projection's
 * rows and its checkpoint commit together. Tables come from `Migrations`.
 *
 * @since 0.2.0
 */
import { CheckpointStore, DeadLetterStore, DeadlineStore, UnitOfWork } from "@eventline/core"
import { Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import * as checkpointSql from "./internal/checkpointSql.ts"
import * as deadLetterSql from "./internal/deadLetterSql.ts"
import * as deadlineSql from "./internal/deadlineSql.ts"
import { transaction } from "./internal/transaction.ts"
import { PgStoreConfig } from "./PgStoreConfig.ts"

/**
 * What `layer` provides.
 *
 * @category models
 * @since 0.2.0
 */
export type Services =
  | CheckpointStore.CheckpointStore
  | DeadLetterStore.DeadLetterStore
  | DeadlineStore.DeadlineStore
  | UnitOfWork.UnitOfWork

/**
 * @category layers
 * @since 0.2.0
 */
export const layerCheckpointStore: Layer.Layer<CheckpointStore.CheckpointStore, never, SqlClient.SqlClient> =
  Layer.effect(
    CheckpointStore.CheckpointStore,
    Effect.flatMap(PgStoreConfig, (config) => checkpointSql.make(config.schema))
  )

/**
 * @category layers
 * @since 0.2.0
 */
export const layerDeadLetterStore: Layer.Layer<DeadLetterStore.DeadLetterStore, never, SqlClient.SqlClient> =
  Layer.effect(
    DeadLetterStore.DeadLetterStore,
    Effect.flatMap(PgStoreConfig, (config) => deadLetterSql.make(config.schema))
  )

/**
 * @category layers
 * @since 0.2.0
 */
export const layerDeadlineStore: Layer.Layer<DeadlineStore.DeadlineStore, never, SqlClient.SqlClient> = Layer.effect(
  DeadlineStore.DeadlineStore,
  Effect.flatMap(PgStoreConfig, (config) => deadlineSql.make(config.schema))
)

/**
 * A unit of work is an SQL transaction (a savepoint inside one already open).
 *
 * @category layers
 * @since 0.2.0
 */
export const layerUnitOfWork: Layer.Layer<UnitOfWork.UnitOfWork, never, SqlClient.SqlClient> = Layer.effect(
  UnitOfWork.UnitOfWork,
  Effect.map(SqlClient.SqlClient, (sql) => UnitOfWork.UnitOfWork.of({ atomic: true, transaction: transaction(sql) }))
)

/**
 * Every subscription port.
 *
 * @category layers
 * @since 0.2.0
 */
export const layer: Layer.Layer<Services, never, SqlClient.SqlClient> = Layer.mergeAll(
  layerCheckpointStore,
  layerDeadLetterStore,
  layerDeadlineStore,
  layerUnitOfWork
)
