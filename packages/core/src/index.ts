/**
 * @since 0.1.0
 */

// Refuses to load next to another copy of `effect` (see internal/effectCopies.ts)
import "./internal/effectCopies.ts"

/** @since 0.1.0 */
export * as Aggregate from "./Aggregate.ts"
/** @since 0.2.0 */
export * as CheckpointStore from "./CheckpointStore.ts"
/** @since 0.1.0 */
export * as CommandBus from "./CommandBus.ts"
/** @since 0.1.0 */
export * as CommandHandler from "./CommandHandler.ts"
/** @since 0.1.0 */
export * as CommitSignal from "./CommitSignal.ts"
/** @since 0.2.0 */
export * as DeadLetterStore from "./DeadLetterStore.ts"
/** @since 0.2.0 */
export * as DeadLetterTopic from "./DeadLetterTopic.ts"
/** @since 0.2.0 */
export * as DeadlineStore from "./DeadlineStore.ts"
/** @since 0.1.0 */
export * as Decider from "./Decider.ts"
/** @since 0.1.0 */
export * as Errors from "./Errors.ts"
/** @since 0.2.0 */
export * as EventBus from "./EventBus.ts"
/** @since 0.1.0 */
export * as EventEnvelope from "./EventEnvelope.ts"
/** @since 0.1.0 */
export * as EventStore from "./EventStore.ts"
/** @since 0.1.0 */
export * as ExpectedVersion from "./ExpectedVersion.ts"
/** @since 0.2.0 */
export * as IdempotencyStore from "./IdempotencyStore.ts"
/** @since 0.1.0 */
export * as InMemoryEventStore from "./InMemoryEventStore.ts"
/** @since 0.2.0 */
export * as InMemoryStore from "./InMemoryStore.ts"
/** @since 0.2.0 */
export * as InProcessBus from "./InProcessBus.ts"
/** @since 0.2.0 */
export * as Instrumentation from "./Instrumentation.ts"
/** @since 0.1.0 */
export * as Json from "./Json.ts"
/** @since 0.1.0 */
export * as Position from "./Position.ts"
/** @since 0.2.0 */
export * as ProcessedEvents from "./ProcessedEvents.ts"
/** @since 0.1.0 */
export * as ProcessManager from "./ProcessManager.ts"
/** @since 0.2.0 */
export * as ProcessManagerRunner from "./ProcessManagerRunner.ts"
/** @since 0.2.0 */
export * as Relay from "./Relay.ts"
/** @since 0.1.0 */
export * as SnapshotStore from "./SnapshotStore.ts"
/** @since 0.3.0 */
export * as StreamName from "./StreamName.ts"
/** @since 0.2.0 */
export * as Subscription from "./Subscription.ts"
/** @since 0.2.0 */
export * as UnitOfWork from "./UnitOfWork.ts"
/** @since 0.3.0 */
export * as Upcaster from "./Upcaster.ts"
/** @since 0.1.0 */
export * as Uuid from "./Uuid.ts"
