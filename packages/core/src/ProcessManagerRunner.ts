/**
 * Runs a `ProcessManager` on the event store, on any store that provides the subscription ports
 * and a `DeadlineStore`.
 *
 * Built on the event store itself rather than effect/workflow: an instance's state is a stream
 * of the inputs it handled (`<category>-<key>`, `ProcessManager.streamIdOf`), so it is as durable
 * and inspectable as any aggregate, and one unit of work covers a whole batch of inputs: the
 * inputs recorded, the commands' events appended through the `CommandBus`, the deadlines stored,
 * the subscription's checkpoint moved. On SQL a crash anywhere in a batch leaves nothing behind,
 * and it runs again.
 *
 * Batches: the runner takes the subscription's batch whole (`handleBatchAtomically`), in the
 * checkpoint's unit of work: each instance loaded once (or not at all: the active runner keeps
 * committed instances in memory), its new inputs appended in one append, the batch's deadlines
 * in one statement. Inputs are handled in log order (commands go out in that order, rejections
 * fed back at once). When a batch fails the subscription goes through it event by event, so a
 * failing input is retried on its `Schedule` and then parked alone, its stream's later events
 * behind it.
 *
 * Redeliveries never double an effect: an input already recorded (by the id of the event that
 * caused it) is not handled again, and every command carries an id derived from that input, so
 * even outside a transaction the command handler answers a repeat with its first result (the
 * commands go out before the input is recorded: at least once, never lost).
 * Deadlines are stored with a due time read from the Effect `Clock`; the active runner fires
 * them, after a restart too.
 *
 * @since 0.2.0
 */
import {
  Cause,
  Clock,
  type Context,
  Duration,
  Effect,
  Exit,
  Option,
  Schedule,
  Schema,
  type Scope,
  Stream
} from "effect"
import type { Tagged } from "./Aggregate.ts"
import { CheckpointStore } from "./CheckpointStore.ts"
import { CommandBus } from "./CommandBus.ts"
import { type Deadline, DeadlineStore } from "./DeadlineStore.ts"
import * as Errors from "./Errors.ts"
import type { NewEvent, RecordedEvent } from "./EventEnvelope.ts"
import { EventStore } from "./EventStore.ts"
import * as ExpectedVersion from "./ExpectedVersion.ts"
import * as ProcessManager from "./ProcessManager.ts"
import * as Subscription from "./Subscription.ts"
import { UnitOfWork } from "./UnitOfWork.ts"
import * as Uuid from "./Uuid.ts"

/**
 * @category models
 * @since 0.2.0
 */
export interface Options {
  /** How often due deadlines are looked for. Default: 1 second. */
  readonly deadlinePollInterval?: Duration.Input | undefined
  readonly pollInterval?: Duration.Input | undefined
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  readonly leaseTtl?: Duration.Input | undefined
  /** How many events of the log one batch (one unit of work) takes at most. Default: 100. */
  readonly batchSize?: number | undefined
  /** How many instances the active runner keeps in memory between batches. Default: 10,000. */
  readonly cachedInstances?: number | undefined
  /**
   * Send commands outside the batch's unit of work, for up to this many instances at once (each
   * instance's inputs still in order). The commands are then at least once, a repeat answered by
   * its command id; the inputs, deadlines and checkpoint still commit together. It needs a store
   * with more than one connection (not PGlite, whose one connection the unit of work holds).
   * Default: inside the unit of work, one command after the other in log order.
   */
  readonly commandConcurrency?: number | undefined
}

/**
 * @category models
 * @since 0.2.0
 */
export interface Handle<State> {
  readonly subscription: Subscription.Handle
  /** An instance's current state (the initial state when it never started). */
  readonly state: (key: string) => Effect.Effect<State, Errors.InfrastructureError | Errors.InvalidEvent>
  /** Fire the deadlines due now (the runner also does this on its own schedule). */
  readonly fireDueDeadlines: Effect.Effect<number, Errors.InfrastructureError>
}

const inputHandled = "InputHandled"
const HandledData = Schema.Struct({ source: Schema.String, input: Schema.Json })

/** An input waiting for its batch: the instance, what caused it (an event id), the input. */
interface Pending<Input> {
  readonly key: string
  readonly source: string
  readonly input: Input
  readonly correlationId: string
}

/** An instance as committed: its state, its stream's version, the sources of its inputs. */
interface Instance<State> {
  readonly state: State
  readonly version: number
  readonly sources: ReadonlySet<string>
}

/** An instance while its batch is handled: as loaded, then each input folded in. */
interface Working<State> {
  state: State
  readonly version: number
  readonly sources: Set<string>
  readonly records: Array<NewEvent>
}

/** What went wrong, for a dead letter: the error and, for a wrapped one, what it wraps. */
const describe = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (!(error instanceof Error)) return Cause.pretty(cause)
  const inner = error.cause instanceof Error ? error.cause.message : error.cause
  return inner === undefined ? `${error.name}: ${error.message}` : `${error.name}: ${error.message}: ${String(inner)}`
}

/**
 * Start a process manager for the lifetime of the current scope.
 *
 * @category constructors
 * @since 0.2.0
 */
export const start = <Input extends Tagged, State, Command extends Tagged>(
  processManager: ProcessManager.ProcessManager<Input, State, Command>,
  options?: Options
): Effect.Effect<Handle<State>, never, Scope.Scope | Subscription.Services | DeadlineStore | CommandBus> =>
  Effect.gen(function* () {
    const store = yield* EventStore
    const bus = yield* CommandBus
    const deadlines = yield* DeadlineStore
    const checkpoints = yield* CheckpointStore
    const unitOfWork = yield* UnitOfWork
    // the services as they are now, outside any unit of work: where concurrent commands run
    const outside = yield* Effect.context<EventStore>()
    const runOutside = <A, E>(effect: Effect.Effect<A, E, EventStore>): Effect.Effect<A, E> =>
      Effect.updateContext(effect, (_: Context.Context<never>) => outside)
    const commandConcurrency = options?.commandConcurrency
    const name = processManager.name
    const codec = Schema.toCodecJson(processManager.inputs)
    const encodeInput = Schema.encodeUnknownEffect(codec)
    const decodeInput = Schema.decodeUnknownEffect(codec)
    const decodeHandled = Schema.decodeUnknownEffect(HandledData)
    const streamIdOf = (key: string) => ProcessManager.streamIdOf(processManager, key)
    const initial = () => ({ state: processManager.initialState, version: 0, sources: new Set<string>() })

    /** The instance's state, version and the sources of the inputs it already handled. */
    const load = (key: string) =>
      store.readStream(streamIdOf(key)).pipe(
        Stream.mapEffect((recorded) =>
          decodeHandled(recorded.data).pipe(
            Effect.flatMap((data) => Effect.map(decodeInput(data.input), (input) => ({ source: data.source, input }))),
            Effect.mapError(
              () =>
                new Errors.InvalidEvent({
                  streamId: recorded.streamId,
                  reason: `input ${recorded.eventId} does not decode`
                })
            )
          )
        ),
        Stream.runFold(initial, (loaded, handled) => {
          loaded.sources.add(handled.source)
          return {
            state: processManager.evolve(loaded.state, handled.input),
            version: loaded.version + 1,
            sources: loaded.sources
          }
        }),
        Effect.catchTag("StreamNotFound", () => Effect.succeed(initial()))
      )

    // Committed instances, kept by the active runner so that an instance's next input needs no
    // load. Only what a unit of work committed goes in; every append is Exact, so an entry that
    // is out of date (another writer) fails its batch, which drops it, and the retry loads.
    const cached = new Map<string, Instance<State>>()
    const cacheLimit = options?.cachedInstances ?? 10_000
    const remember = (committed: ReadonlyMap<string, Instance<State>>) => {
      for (const [key, instance] of committed) {
        const known = cached.get(key)
        if (known !== undefined && known.version > instance.version) continue
        cached.delete(key)
        cached.set(key, instance)
        if (cached.size > cacheLimit) cached.delete(cached.keys().next().value as string)
      }
    }
    const forget = (pending: ReadonlyArray<Pending<Input>>) =>
      Effect.sync(() => {
        for (const { key } of pending) cached.delete(key)
      })

    /**
     * Handle a batch of inputs, in order: each instance loaded once; per input, react, send the
     * commands (a rejection is fed back to its instance at once) and collect the deadlines; then
     * the deadlines in one statement and each instance's new inputs in one append (Exact, so a
     * concurrent writer of the instance fails the batch instead of forking it). With
     * `commandConcurrency`, instances are loaded and their commands sent outside the unit of
     * work, several instances at once.
     */
    const handleInputs = (
      pending: ReadonlyArray<Pending<Input>>
    ): Effect.Effect<ReadonlyMap<string, Instance<State>>, unknown> =>
      Effect.gen(function* () {
        const instances = new Map<string, Working<State>>()
        const open = (key: string) =>
          Effect.suspend(() => {
            const known = cached.get(key)
            if (known !== undefined) return Effect.succeed({ ...known, sources: new Set(known.sources) })
            return commandConcurrency === undefined ? load(key) : runOutside(load(key))
          }).pipe(
            Effect.tap((loaded) =>
              Effect.sync(() => {
                instances.set(key, { ...loaded, records: [] })
              })
            )
          )
        const occurredAt = new Date(yield* Clock.currentTimeMillis).toISOString()
        const scheduled: Array<Deadline> = []

        const step = (next: Pending<Input>): Effect.Effect<void, unknown> =>
          Effect.gen(function* () {
            const { key, source, input, correlationId } = next
            const instance = instances.get(key) as Working<State>
            if (instance.sources.has(source)) return
            const reaction = processManager.react(instance.state, input)
            instance.state = processManager.evolve(instance.state, input)
            instance.sources.add(source)
            instance.records.push({
              eventId: Uuid.fromParts(name, key, source),
              type: inputHandled,
              schemaVersion: 1,
              data: { source, input: yield* encodeInput(input) },
              metadata: { correlationId, causationId: source, occurredAt }
            })
            for (const deadline of reaction.deadlines ?? []) {
              scheduled.push({
                processManager: name,
                deadlineId: `${key}/${deadline.id}`,
                instanceKey: key,
                dueAt: new Date(deadline.at),
                input: yield* encodeInput(deadline.input)
              })
            }
            for (const [index, command] of reaction.commands.entries()) {
              const commandId = Uuid.fromParts(name, key, source, index)
              const dispatched = bus.dispatch(command, { commandId, correlationId, causationId: source })
              const sent = yield* Effect.exit(commandConcurrency === undefined ? dispatched : runOutside(dispatched))
              if (Exit.isSuccess(sent)) continue
              const error = Option.getOrUndefined(Exit.findErrorOption(sent))
              if (error !== undefined && error._tag === "DecisionRejected") {
                const fedBack = processManager.onRejected(command, error.rejection)
                if (Option.isSome(fedBack)) {
                  yield* step({ key, source: `${commandId}/rejected`, input: fedBack.value, correlationId })
                }
                continue
              }
              return yield* sent
            }
          })

        if (commandConcurrency === undefined) {
          for (const next of pending) {
            if (!instances.has(next.key)) yield* open(next.key)
            yield* step(next)
          }
        } else {
          const byInstance = new Map<string, Array<Pending<Input>>>()
          for (const next of pending) {
            const inputs = byInstance.get(next.key)
            if (inputs === undefined) byInstance.set(next.key, [next])
            else inputs.push(next)
          }
          yield* Effect.forEach(
            byInstance,
            ([key, inputs]) => Effect.andThen(open(key), Effect.forEach(inputs, step, { discard: true })),
            { concurrency: commandConcurrency, discard: true }
          )
        }
        // the effects first, the record last: outside a transaction a crash in between makes a
        // redelivery send the same commands again (idempotent by id), never lose them
        if (scheduled.length > 0) yield* deadlines.scheduleAll(scheduled)
        for (const [key, instance] of instances) {
          if (instance.records.length === 0) continue
          yield* store.append(streamIdOf(key), ExpectedVersion.exact(instance.version), instance.records, {
            streamType: name
          })
        }
        const after = new Map<string, Instance<State>>()
        for (const [key, instance] of instances) {
          const version = instance.version + instance.records.length
          after.set(key, { state: instance.state, version, sources: instance.sources })
        }
        return after
      }).pipe(Effect.onError(() => forget(pending)))

    /** A batch's failure as the subscription sees it: an InfrastructureError that names the cause. */
    const handleBatch = (pending: ReadonlyArray<Pending<Input>>) =>
      handleInputs(pending).pipe(
        // defects too (a throwing `react`): the input is retried and parked, not the runner restarted
        Effect.catchCause((cause) =>
          Cause.hasInterruptsOnly(cause)
            ? Effect.interrupt
            : Effect.fail(
                new Errors.InfrastructureError({
                  operation: `process manager ${name} input (${describe(cause)})`,
                  cause: Cause.squash(cause)
                })
              )
        )
      )

    const inputOf = (event: RecordedEvent): Option.Option<Pending<Input>> =>
      Option.map(processManager.correlate(event), ({ input, key }) => ({
        key,
        source: event.eventId,
        input,
        correlationId: event.metadata.correlationId
      }))

    // what a batch leaves goes into the cache when its unit of work commits
    let uncommitted: Array<ReadonlyMap<string, Instance<State>>> = []
    const handleEvents = (events: ReadonlyArray<RecordedEvent>) =>
      Effect.suspend(() => {
        const pending: Array<Pending<Input>> = []
        for (const event of events) {
          const input = inputOf(event)
          if (Option.isSome(input)) pending.push(input.value)
        }
        if (pending.length === 0) return Effect.void
        return Effect.map(handleBatch(pending), (after) => {
          uncommitted.push(after)
        })
      })

    // a runner that (re)takes the lease trusts nothing it remembers
    const forgetfulCheckpoints = CheckpointStore.of({
      ...checkpoints,
      acquire: (subscription, owner, ttl, initial) =>
        Effect.andThen(
          Effect.sync(() => cached.clear()),
          checkpoints.acquire(subscription, owner, ttl, initial)
        )
    })
    const committing = UnitOfWork.of({
      atomic: unitOfWork.atomic,
      transaction: (effect) =>
        unitOfWork.transaction(effect).pipe(
          Effect.onExit((exit) =>
            Effect.sync(() => {
              if (Exit.isSuccess(exit)) for (const after of uncommitted) remember(after)
              uncommitted = []
            })
          )
        )
    })

    const subscription = yield* Subscription.start({
      name: `process-manager:${name}`,
      streamTypes: processManager.streamTypes,
      transactional: true,
      batchSize: options?.batchSize,
      pollInterval: options?.pollInterval,
      retry: options?.retry,
      leaseTtl: options?.leaseTtl,
      // a batch in the checkpoint's unit of work; event by event (retried, parked alone) when it fails
      handleBatchAtomically: handleEvents,
      handle: (event: RecordedEvent) => handleEvents([event])
    }).pipe(Effect.provideService(CheckpointStore, forgetfulCheckpoints), Effect.provideService(UnitOfWork, committing))

    /** Fire one due deadline (the store keeps two runners from firing the same); false when none is due. */
    const fireOne = (now: Date) =>
      Effect.suspend(() => {
        let fired: ReadonlyMap<string, Instance<State>> = new Map()
        return deadlines
          .fireNext(name, now, (due) =>
            Effect.flatMap(decodeInput(due.input), (input) =>
              handleBatch([
                { key: due.instanceKey, source: `deadline/${due.deadlineId}`, input, correlationId: due.instanceKey }
              ])
            ).pipe(
              Effect.tap((after) =>
                Effect.sync(() => {
                  fired = after
                })
              )
            )
          )
          .pipe(Effect.tap(() => Effect.sync(() => remember(fired))))
      })

    const fireDueDeadlines = Effect.gen(function* () {
      const now = new Date(yield* Clock.currentTimeMillis)
      let fired = 0
      yield* fireOne(now).pipe(
        Effect.tap((firedOne) =>
          Effect.sync(() => {
            if (firedOne) fired++
          })
        ),
        Effect.repeat({ while: (firedOne) => firedOne })
      )
      return fired
    }).pipe(Effect.mapError(Errors.infrastructure(`${name}.deadlines`)))

    // only the runner that holds the subscription's lease fires deadlines
    const deadlinePoll = Duration.fromInputUnsafe(options?.deadlinePollInterval ?? "1 second")
    yield* Effect.gen(function* () {
      if (yield* subscription.isActive) {
        yield* fireDueDeadlines.pipe(
          Effect.catchCause((cause) => Effect.logWarning(`process manager ${name}: firing deadlines failed`, cause))
        )
      }
    }).pipe(Effect.repeat(Schedule.spaced(deadlinePoll)), Effect.forkScoped)

    return {
      subscription,
      state: (key: string) => Effect.map(load(key), (loaded) => loaded.state),
      fireDueDeadlines
    } satisfies Handle<State>
  })
