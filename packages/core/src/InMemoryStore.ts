/**
 * Every storage port in memory, in one layer: the event store with its in-process commit signal,
 * snapshots, checkpoints with leases, dead letters, deadlines, idempotency keys and processed
 * events, and a unit of work that runs effects as they are. For tests and for apps that keep
 * nothing; the same runtime (subscriptions, process managers, the relay) runs on it unchanged.
 *
 * @since 0.2.0
 */
import { Layer } from "effect"
import * as CheckpointStore from "./CheckpointStore.ts"
import * as CommitSignal from "./CommitSignal.ts"
import * as DeadLetterStore from "./DeadLetterStore.ts"
import * as DeadlineStore from "./DeadlineStore.ts"
import type * as EventStore from "./EventStore.ts"
import * as IdempotencyStore from "./IdempotencyStore.ts"
import * as InMemoryEventStore from "./InMemoryEventStore.ts"
import * as ProcessedEvents from "./ProcessedEvents.ts"
import * as SnapshotStore from "./SnapshotStore.ts"
import * as UnitOfWork from "./UnitOfWork.ts"

/**
 * What `layer` provides.
 *
 * @category models
 * @since 0.2.0
 */
export type Services =
  | EventStore.EventStore
  | CommitSignal.CommitSignal
  | SnapshotStore.SnapshotStore
  | CheckpointStore.CheckpointStore
  | DeadLetterStore.DeadLetterStore
  | DeadlineStore.DeadlineStore
  | IdempotencyStore.IdempotencyStore
  | ProcessedEvents.ProcessedEvents
  | UnitOfWork.UnitOfWork

/**
 * @category layers
 * @since 0.2.0
 */
export const layer: Layer.Layer<Services> = Layer.mergeAll(
  InMemoryEventStore.layer,
  SnapshotStore.layerInMemory,
  CheckpointStore.layerMemory,
  DeadLetterStore.layerMemory,
  DeadlineStore.layerMemory,
  IdempotencyStore.layerMemory,
  ProcessedEvents.layerMemory,
  UnitOfWork.layerNone
).pipe(Layer.provideMerge(CommitSignal.layerInProcess))
