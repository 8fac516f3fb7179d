/**
 * Durable deadlines of process managers: a deadline is stored with the step that set it and
 * fires after a restart too. Firing takes one due deadline so that two runners never fire the
 * same one, and marks it fired together with what firing did (in the store's unit of work).
 *
 * @since 0.2.0
 */
import { Context, Effect, Layer, Ref, type Schema, Semaphore } from "effect"
import type { InfrastructureError } from "./Errors.ts"

/**
 * @category models
 * @since 0.2.0
 */
export interface Deadline {
  readonly processManager: string
  /** Unique within the process manager: scheduling the same id again changes nothing. */
  readonly deadlineId: string
  readonly instanceKey: string
  readonly dueAt: Date
  /** The input fed back to the instance, JSON-encoded. */
  readonly input: Schema.Json
}

/**
 * @category services
 * @since 0.2.0
 */
export class DeadlineStore extends Context.Service<
  DeadlineStore,
  {
    readonly schedule: (deadline: Deadline) => Effect.Effect<void, InfrastructureError>
    /** Schedule several at once (one statement on SQL); each like `schedule`. */
    readonly scheduleAll: (deadlines: ReadonlyArray<Deadline>) => Effect.Effect<void, InfrastructureError>
    /**
     * Fire the earliest deadline of `processManager` due at `now`, if any: run `fire` and mark
     * the deadline fired, atomically (on failure it stays pending). `false` when none is due.
     */
    readonly fireNext: <E, R>(
      processManager: string,
      now: Date,
      fire: (deadline: Deadline) => Effect.Effect<void, E, R>
    ) => Effect.Effect<boolean, E | InfrastructureError, R>
  }
>()("@eventline/core/DeadlineStore") {}

interface Row {
  readonly deadline: Deadline
  readonly fired: boolean
}

/**
 * An in-memory store (one process; nothing survives it).
 *
 * @category constructors
 * @since 0.2.0
 */
export const makeMemory: Effect.Effect<DeadlineStore["Service"]> = Effect.gen(function* () {
  const rows = yield* Ref.make<ReadonlyArray<Row>>([])
  // one firing at a time: the in-memory counterpart of SQL's row lock
  const firing = yield* Semaphore.make(1)
  const same = (a: Deadline, b: Deadline) => a.processManager === b.processManager && a.deadlineId === b.deadlineId
  const add = (all: ReadonlyArray<Row>, deadline: Deadline) =>
    all.some((row) => same(row.deadline, deadline)) ? all : [...all, { deadline, fired: false }]
  return DeadlineStore.of({
    schedule: (deadline) => Ref.update(rows, (all) => add(all, deadline)),
    scheduleAll: (deadlines) => Ref.update(rows, (all) => deadlines.reduce(add, all)),
    fireNext: (processManager, now, fire) =>
      Semaphore.withPermit(
        firing,
        Effect.gen(function* () {
          const due = (yield* Ref.get(rows))
            .filter(
              (row) =>
                !row.fired &&
                row.deadline.processManager === processManager &&
                row.deadline.dueAt.getTime() <= now.getTime()
            )
            .sort((a, b) => a.deadline.dueAt.getTime() - b.deadline.dueAt.getTime())[0]
          if (due === undefined) return false
          yield* fire(due.deadline)
          yield* Ref.update(rows, (all) =>
            all.map((row) => (same(row.deadline, due.deadline) ? { ...row, fired: true } : row))
          )
          return true
        })
      )
  })
})

/**
 * @category layers
 * @since 0.2.0
 */
export const layerMemory: Layer.Layer<DeadlineStore> = Layer.effect(DeadlineStore, makeMemory)
