/**
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Migrations from "./Migrations.ts"
/** @since 0.1.0 */
export * as PgCommitSignal from "./PgCommitSignal.ts"
/** @since 0.3.0 */
export * as PgEventBus from "./PgEventBus.ts"
/** @since 0.1.0 */
export * as PgEventStore from "./PgEventStore.ts"
/** @since 0.2.0 */
export * as PgHealth from "./PgHealth.ts"
/** @since 0.2.0 */
export * as PgIdempotencyStore from "./PgIdempotencyStore.ts"
/** @since 0.1.0 */
export * as PgliteClient from "./PgliteClient.ts"
/** @since 0.2.0 */
export * as PgProcessedEvents from "./PgProcessedEvents.ts"
/** @since 0.1.0 */
export * as PgSnapshotStore from "./PgSnapshotStore.ts"
/** @since 0.1.0 */
export * as PgStore from "./PgStore.ts"
/** @since 0.1.0 */
export * as PgStoreConfig from "./PgStoreConfig.ts"
/** @since 0.2.0 */
export * as PgSubscriptionStores from "./PgSubscriptionStores.ts"
