/**
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as DeciderSpec from "./DeciderSpec.ts"
/** @since 0.1.0 */
export * as EventStoreConformance from "./EventStoreConformance.ts"
/** @since 0.1.0 */
export * as SnapshotStoreConformance from "./SnapshotStoreConformance.ts"
/** @since 0.1.0 */
export * as TestEnvironment from "./TestEnvironment.ts"
