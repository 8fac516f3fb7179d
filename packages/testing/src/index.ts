/**
 * @since 0.1.0
 */

/** @since 0.2.0 */
export * as CheckpointStoreConformance from "./CheckpointStoreConformance.ts"
/** @since 0.2.0 */
export * as DeadLetterStoreConformance from "./DeadLetterStoreConformance.ts"
/** @since 0.2.0 */
export * as DeadlineStoreConformance from "./DeadlineStoreConformance.ts"
/** @since 0.1.0 */
export * as DeciderSpec from "./DeciderSpec.ts"
/** @since 0.2.0 */
export * as EventBusConformance from "./EventBusConformance.ts"
/** @since 0.1.0 */
export * as EventStoreConformance from "./EventStoreConformance.ts"
/** @since 0.2.0 */
export * as IdempotencyStoreConformance from "./IdempotencyStoreConformance.ts"
/** @since 0.2.0 */
export * as ProcessedEventsConformance from "./ProcessedEventsConformance.ts"
/** @since 0.1.0 */
export * as SnapshotStoreConformance from "./SnapshotStoreConformance.ts"
/** @since 0.2.0 */
export * as SubscriptionConformance from "./SubscriptionConformance.ts"
/** @since 0.1.0 */
export * as TestEnvironment from "./TestEnvironment.ts"
