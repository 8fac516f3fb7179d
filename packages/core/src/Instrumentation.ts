/**
 * Metrics and spans for the services of the runtime: commands by type and outcome, appends,
 * appended events, conflicts and the retries they caused (by wrapping the `CommandBus` and the
 * `EventStore` a service uses), and the metrics the subscription engine records
 * (`eventline_subscription_*`). Every metric is an Effect `Metric`, so any exporter (Prometheus,
 * OTLP) sees them; every command dispatch and every append runs in a span.
 *
 * @since 0.2.0
 */
import { Cause, Context, Effect, Exit, Layer, Metric, Option } from "effect"
import * as CommandBus from "./CommandBus.ts"
import * as EventStore from "./EventStore.ts"

/**
 * @category metrics
 * @since 0.2.0
 */
export const commands = Metric.counter("eventline_commands_total", {
  description: "commands by type and outcome",
  incremental: true
})

/**
 * @category metrics
 * @since 0.2.0
 */
export const appends = Metric.counter("eventline_appends_total", {
  description: "successful appends by stream type",
  incremental: true
})

/**
 * @category metrics
 * @since 0.2.0
 */
export const appendedEvents = Metric.counter("eventline_appended_events_total", {
  description: "events appended by stream type",
  incremental: true
})

/**
 * @category metrics
 * @since 0.2.0
 */
export const conflicts = Metric.counter("eventline_append_conflicts_total", {
  description: "appends refused with a concurrency conflict, by stream type",
  incremental: true
})

/**
 * @category metrics
 * @since 0.2.0
 */
export const retries = Metric.counter("eventline_command_retries_total", {
  description: "command attempts repeated after a concurrency conflict, by command type",
  incremental: true
})

/**
 * Events handled by subscriptions (attribute `subscription` where the engine sets it).
 *
 * @category metrics
 * @since 0.2.0
 */
export const subscriptionEventsHandled = Metric.counter("eventline_subscription_events_total", {
  description: "events handled by subscriptions",
  incremental: true
})

/**
 * Events a subscription parked in its dead letters.
 *
 * @category metrics
 * @since 0.2.0
 */
export const subscriptionDeadLetters = Metric.counter("eventline_subscription_dead_letters_total", {
  description: "events parked in dead letters",
  incremental: true
})

/**
 * How many events a subscription is behind the head of the log (attribute `subscription`).
 *
 * @category metrics
 * @since 0.2.0
 */
export const subscriptionLag = Metric.gauge("eventline_subscription_lag_events", {
  description: "events behind the head"
})

/** Conflicts seen by the appends of the command being dispatched (to count its retries). */
class DispatchConflicts extends Context.Reference<{ count: number } | undefined>(
  "@eventline/core/Instrumentation/DispatchConflicts",
  { defaultValue: () => undefined }
) {}

/**
 * An event store that counts appends, appended events and conflicts, and runs every append in a
 * span (`EventStore.append`, with the stream id and type).
 *
 * @category instrumentation
 * @since 0.2.0
 */
export const instrumentStore = (store: EventStore.EventStore["Service"]): EventStore.EventStore["Service"] =>
  EventStore.EventStore.of({
    ...store,
    append: (streamId, expected, events, options) =>
      store.append(streamId, expected, events, options).pipe(
        Effect.onExit((exit) => {
          const attributes = { stream_type: options.streamType }
          if (Exit.isSuccess(exit)) {
            return Effect.andThen(
              Metric.update(Metric.withAttributes(appends, attributes), 1),
              Metric.update(Metric.withAttributes(appendedEvents, attributes), exit.value.events.length)
            )
          }
          const error = Exit.findErrorOption(exit)
          if (Option.isNone(error) || error.value._tag !== "ConcurrencyConflict") return Effect.void
          return Effect.andThen(
            Effect.map(DispatchConflicts, (seen) => {
              if (seen !== undefined) seen.count++
            }),
            Metric.update(Metric.withAttributes(conflicts, attributes), 1)
          )
        }),
        Effect.withSpan("EventStore.append", {
          attributes: {
            "eventline.stream_id": streamId,
            "eventline.stream_type": options.streamType,
            "eventline.events": events.length
          }
        })
      )
  })

const outcomeOf = (exit: Exit.Exit<unknown, unknown>): string => {
  if (Exit.isSuccess(exit)) return "accepted"
  const error = Exit.findErrorOption(exit)
  if (Option.isNone(error)) return Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "failed"
  const tag =
    typeof error.value === "object" && error.value !== null && "_tag" in error.value ? String(error.value._tag) : ""
  switch (tag) {
    case "DecisionRejected":
      return "rejected"
    case "ConcurrencyConflict":
      return "conflict"
    case "InvalidCommand":
    case "UnknownCommand":
      return "invalid"
    default:
      return "failed"
  }
}

/**
 * A command bus that counts commands by type and outcome (accepted, duplicate, rejected,
 * conflict, invalid, failed) and the retries its handlers made after conflicts, and runs every
 * dispatch in a span (`Command <type>`, with its outcome).
 *
 * @category instrumentation
 * @since 0.2.0
 */
export const instrumentBus = (bus: CommandBus.CommandBus["Service"]): CommandBus.CommandBus["Service"] => {
  const counted =
    <I>(run: (input: I, context?: Parameters<typeof bus.dispatch>[1]) => ReturnType<typeof bus.dispatch>) =>
    (input: I, context?: Parameters<typeof bus.dispatch>[1]) => {
      const seen = { count: 0 }
      const commandType =
        typeof input === "object" && input !== null && "_tag" in input ? String(input._tag) : "unknown"
      return run(input, context).pipe(
        Effect.provideService(DispatchConflicts, seen),
        Effect.onExit((exit) => {
          const outcome = Exit.isSuccess(exit) && exit.value.duplicate === true ? "duplicate" : outcomeOf(exit)
          const repeated = seen.count - (outcome === "conflict" ? 1 : 0)
          return Effect.andThen(
            Effect.annotateCurrentSpan({ "eventline.outcome": outcome, "eventline.retries": Math.max(0, repeated) }),
            Effect.andThen(
              Metric.update(Metric.withAttributes(commands, { command: commandType, outcome }), 1),
              repeated > 0
                ? Metric.update(Metric.withAttributes(retries, { command: commandType }), repeated)
                : Effect.void
            )
          )
        }),
        Effect.withSpan(`Command ${commandType}`, {
          attributes: {
            "eventline.command": commandType,
            ...(context?.correlationId === undefined ? {} : { "eventline.correlation_id": context.correlationId })
          }
        })
      )
    }
  return CommandBus.CommandBus.of({
    ...bus,
    dispatch: counted(bus.dispatch),
    dispatchUnknown: counted(bus.dispatchUnknown)
  })
}

/**
 * Replace the `EventStore` in context with one that records metrics and spans.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerStore: Layer.Layer<EventStore.EventStore, never, EventStore.EventStore> = Layer.effect(
  EventStore.EventStore,
  Effect.map(EventStore.EventStore, instrumentStore)
)

/**
 * Replace the `CommandBus` in context with one that records metrics and spans.
 *
 * @category layers
 * @since 0.2.0
 */
export const layerBus: Layer.Layer<CommandBus.CommandBus, never, CommandBus.CommandBus> = Layer.effect(
  CommandBus.CommandBus,
  Effect.map(CommandBus.CommandBus, instrumentBus)
)
