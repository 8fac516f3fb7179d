/**
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as Aggregate from "./Aggregate.ts"
/** @since 0.1.0 */
export * as CommandBus from "./CommandBus.ts"
/** @since 0.1.0 */
export * as CommandHandler from "./CommandHandler.ts"
/** @since 0.1.0 */
export * as CommitSignal from "./CommitSignal.ts"
/** @since 0.1.0 */
export * as Decider from "./Decider.ts"
/** @since 0.1.0 */
export * as Errors from "./Errors.ts"
/** @since 0.1.0 */
export * as EventEnvelope from "./EventEnvelope.ts"
/** @since 0.1.0 */
export * as EventStore from "./EventStore.ts"
/** @since 0.1.0 */
export * as ExpectedVersion from "./ExpectedVersion.ts"
export * as InMemoryEventStore from "./InMemoryEventStore.ts"
/** @since 0.1.0 */
/** @since 0.1.0 */
export * as Json from "./Json.ts"
/** @since 0.1.0 */
export * as Position from "./Position.ts"
/** @since 0.1.0 */
export * as ProcessManager from "./ProcessManager.ts"
/** @since 0.1.0 */
export * as SnapshotStore from "./SnapshotStore.ts"
/** @since 0.1.0 */
export * as Uuid from "./Uuid.ts"
