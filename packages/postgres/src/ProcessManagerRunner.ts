/**
 * Runs a `ProcessManager` on the event store, on PostgreSQL or PGlite.
 *
 * Built on the event store itself rather than effect/workflow: an instance's state is a stream
 * of the inputs it handled (`<name>-<key>`), so it is as durable and inspectable as any
 * aggregate, and one SQL transaction covers the whole step: the input recorded, the commands'
 * events appended through the `CommandBus`, the deadlines stored, the subscription's checkpoint
 * moved. A crash anywhere in a step leaves nothing behind, and the step runs again.
 *
 * Redeliveries never double an effect: an input already recorded (by the id of the event that
 * caused it) is not handled again, and every command carries an id derived from that input, so
 * even outside the transaction the command handler answers a repeat with its first result.
 * Deadlines are rows with a due time read from the Effect `Clock`; the active runner fires them,
 * after a restart too.
 *
 * @since 0.1.0
 */
import {
  CommandBus,
  Errors,
  type EventEnvelope,
  EventStore,
  ExpectedVersion,
  type ProcessManager,
  Uuid
} from "@eventline/core"
import type { Tagged } from "@eventline/core/Aggregate"
import { Clock, Duration, Effect, Exit, Option, Schedule, Schema, type Scope, Stream } from "effect"
import { SqlClient } from "effect/sql"
import { PgStoreConfig } from "./PgStoreConfig.ts"
import * as Subscription from "./Subscription.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** How often due deadlines are looked for. Default: 1 second. */
  readonly deadlinePollInterval?: Duration.Input | undefined
  readonly pollInterval?: Duration.Input | undefined
  readonly retry?: Schedule.Schedule<unknown, unknown> | undefined
  readonly leaseTtl?: Duration.Input | undefined
}

/**
 * @category models
 * @since 0.1.0
 */
export interface Handle<State> {
  readonly subscription: Subscription.Handle
  /** An instance's current state (the initial state when it never started). */
  readonly state: (key: string) => Effect.Effect<State, Errors.InfrastructureError | Errors.InvalidEvent>
  /** Fire the deadlines due now (the runner also does this on its own schedule). */
  readonly fireDueDeadlines: Effect.Effect<number, Errors.InfrastructureError>
}

const DeadlineRows = Schema.Array(
  Schema.Struct({ deadline_id: Schema.String, instance_key: Schema.String, input: Schema.Json })
)

const inputHandled = "InputHandled"

/**
 * Start a process manager for the lifetime of the current scope.
 *
 * @category constructors
 * @since 0.1.0
 */
export const start = <Input extends Tagged, State, Command extends Tagged>(
  processManager: ProcessManager.ProcessManager<Input, State, Command>,
  options?: Options
): Effect.Effect<
  Handle<State>,
  never,
  Scope.Scope | SqlClient.SqlClient | EventStore.EventStore | CommandBus.CommandBus
> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const store = yield* EventStore.EventStore
    const bus = yield* CommandBus.CommandBus
    const config = yield* PgStoreConfig
    const deadlines = sql(`${config.schema}.deadlines`)
    const name = processManager.name
    const codec = Schema.toCodecJson(processManager.inputs)
    const streamIdOf = (key: string) => `${name}-${key}`
    const infrastructure = (operation: string) => (cause: unknown) =>
      new Errors.InfrastructureError({ operation: `${name}.${operation}`, cause })

    const HandledData = Schema.Struct({ source: Schema.String, input: Schema.Json })

    /** The instance's state, version and the sources of the inputs it already handled. */
    const load = (key: string) =>
      store.readStream(streamIdOf(key)).pipe(
        Stream.mapEffect((recorded) =>
          Schema.decodeUnknownEffect(HandledData)(recorded.data).pipe(
            Effect.flatMap((data) =>
              Effect.map(Schema.decodeUnknownEffect(codec)(data.input), (input) => ({ source: data.source, input }))
            ),
            Effect.mapError(
              () =>
                new Errors.InvalidEvent({
                  streamId: recorded.streamId,
                  reason: `input ${recorded.eventId} does not decode`
                })
            )
          )
        ),
        Stream.runFold(
          () => ({ state: processManager.initialState, version: 0, sources: new Set<string>() }),
          (loaded, handled) => {
            loaded.sources.add(handled.source)
            return {
              state: processManager.evolve(loaded.state, handled.input),
              version: loaded.version + 1,
              sources: loaded.sources
            }
          }
        ),
        Effect.catchTag("StreamNotFound", () =>
          Effect.succeed({ state: processManager.initialState, version: 0, sources: new Set<string>() })
        )
      )

    /** One step: record the input, store the deadlines, send the commands (feeding rejections back). */
    const handleInput = (
      key: string,
      source: string,
      input: Input,
      correlationId: string
    ): Effect.Effect<void, unknown> =>
      Effect.gen(function* () {
        const loaded = yield* load(key)
        if (loaded.sources.has(source)) return
        const reaction = processManager.react(loaded.state, input)
        const encoded = yield* Schema.encodeUnknownEffect(codec)(input)
        yield* store.append(
          streamIdOf(key),
          ExpectedVersion.exact(loaded.version),
          [
            {
              eventId: Uuid.fromParts(name, key, source),
              type: inputHandled,
              schemaVersion: 1,
              data: { source, input: encoded },
              metadata: {
                correlationId,
                causationId: source,
                occurredAt: new Date(yield* Clock.currentTimeMillis).toISOString()
              }
            }
          ],
          { streamType: name }
        )
        for (const deadline of reaction.deadlines ?? []) {
          const deadlineInput = yield* Schema.encodeUnknownEffect(codec)(deadline.input)
          yield* sql`INSERT INTO ${deadlines} (process_manager, deadline_id, instance_key, due_at, input)
            VALUES (${name}, ${`${key}/${deadline.id}`}, ${key}, ${deadline.at}::timestamptz, ${JSON.stringify(deadlineInput)}::jsonb)
            ON CONFLICT (process_manager, deadline_id) DO NOTHING`
        }
        for (const [index, command] of reaction.commands.entries()) {
          const commandId = Uuid.fromParts(name, key, source, index)
          const sent = yield* Effect.exit(bus.dispatch(command, { commandId, correlationId, causationId: source }))
          if (Exit.isSuccess(sent)) continue
          const error = Option.getOrUndefined(Exit.findErrorOption(sent))
          if (error !== undefined && error._tag === "DecisionRejected") {
            const next = processManager.onRejected(command, error.rejection)
            if (Option.isSome(next)) yield* handleInput(key, `${commandId}/rejected`, next.value, correlationId)
            continue
          }
          return yield* sent
        }
      })

    const subscription = yield* Subscription.start({
      name: `process-manager:${name}`,
      streamTypes: processManager.streamTypes,
      transactional: true,
      pollInterval: options?.pollInterval,
      retry: options?.retry,
      leaseTtl: options?.leaseTtl,
      handle: (event: EventEnvelope.RecordedEvent) => {
        const correlated = processManager.correlate(event)
        return Option.isNone(correlated)
          ? Effect.void
          : handleInput(correlated.value.key, event.eventId, correlated.value.input, event.metadata.correlationId)
      }
    })

    /** Fire one due deadline, locked so two runners never fire the same one; false when none is due. */
    const fireOne = (now: Date) =>
      sql.withTransaction(
        Effect.gen(function* () {
          const [due] = yield* sql`SELECT deadline_id, instance_key, input FROM ${deadlines}
              WHERE process_manager = ${name} AND status = 'pending' AND due_at <= ${now.toISOString()}::timestamptz
              ORDER BY due_at LIMIT 1 FOR UPDATE SKIP LOCKED`.pipe(
            Effect.flatMap(Schema.decodeUnknownEffect(DeadlineRows))
          )
          if (due === undefined) return false
          const input = yield* Schema.decodeUnknownEffect(codec)(due.input)
          yield* handleInput(due.instance_key, `deadline/${due.deadline_id}`, input, due.instance_key)
          yield* sql`UPDATE ${deadlines} SET status = 'fired' WHERE process_manager = ${name} AND deadline_id = ${due.deadline_id}`
          return true
        })
      )

    const fireDueDeadlines = Effect.gen(function* () {
      const now = new Date(yield* Clock.currentTimeMillis)
      let fired = 0
      while (yield* fireOne(now)) fired++
      return fired
    }).pipe(Effect.mapError(infrastructure("deadlines")))

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
