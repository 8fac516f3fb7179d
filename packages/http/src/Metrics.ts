/**
 * Prometheus metrics: HTTP requests and their latency by route and status (recorded by
 * `Pipeline`), commands by type and outcome, appends, conflicts and retries (by wrapping the
 * `CommandBus` and the `EventStore` of a service), next to what the subscriptions record
 * (`eventline_subscription_*`). `render` formats every metric of the process in the Prometheus
 * text format.
 *
 * @since 0.1.0
 */
import { CommandBus, EventStore } from "@eventline/core"
import { Cause, Context, Effect, Exit, Layer, Metric, Option } from "effect"
import { PrometheusMetrics } from "effect/observability"

/**
 * @category metrics
 * @since 0.1.0
 */
export const httpRequests = Metric.counter("http_requests_total", {
  description: "HTTP requests by method, route and status",
  incremental: true
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const httpDuration = Metric.histogram("http_request_duration_seconds", {
  description: "HTTP request latency (to the response head) by method, route and status",
  boundaries: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const commands = Metric.counter("eventline_commands_total", {
  description: "commands by type and outcome",
  incremental: true
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const appends = Metric.counter("eventline_appends_total", {
  description: "successful appends by stream type",
  incremental: true
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const appendedEvents = Metric.counter("eventline_appended_events_total", {
  description: "events appended by stream type",
  incremental: true
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const conflicts = Metric.counter("eventline_append_conflicts_total", {
  description: "appends refused with a concurrency conflict, by stream type",
  incremental: true
})

/**
 * @category metrics
 * @since 0.1.0
 */
export const retries = Metric.counter("eventline_command_retries_total", {
  description: "command attempts repeated after a concurrency conflict, by command type",
  incremental: true
})

/**
 * Record one HTTP request.
 *
 * @category recording
 * @since 0.1.0
 */
export const recordRequest = (method: string, route: string, status: number, seconds: number): Effect.Effect<void> => {
  const attributes = { method, route, status: String(status) }
  return Effect.andThen(
    Metric.update(Metric.withAttributes(httpRequests, attributes), 1),
    Metric.update(Metric.withAttributes(httpDuration, attributes), seconds)
  )
}

/** Conflicts seen by the appends of the command being dispatched (to count its retries). */
class DispatchConflicts extends Context.Reference<{ count: number } | undefined>(
  "@eventline/http/Metrics/DispatchConflicts",
  { defaultValue: () => undefined }
) {}

/**
 * An event store that counts appends, appended events and conflicts.
 *
 * @category instrumentation
 * @since 0.1.0
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
 * conflict, invalid, failed) and the retries its handlers made after conflicts.
 *
 * @category instrumentation
 * @since 0.1.0
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
            Metric.update(Metric.withAttributes(commands, { command: commandType, outcome }), 1),
            repeated > 0
              ? Metric.update(Metric.withAttributes(retries, { command: commandType }), repeated)
              : Effect.void
          )
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
 * Replace the `EventStore` in context with one that records metrics.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerStore: Layer.Layer<EventStore.EventStore, never, EventStore.EventStore> = Layer.effect(
  EventStore.EventStore,
  Effect.map(EventStore.EventStore, instrumentStore)
)

/**
 * Replace the `CommandBus` in context with one that records metrics.
 *
 * @category layers
 * @since 0.1.0
 */
export const layerBus: Layer.Layer<CommandBus.CommandBus, never, CommandBus.CommandBus> = Layer.effect(
  CommandBus.CommandBus,
  Effect.map(CommandBus.CommandBus, instrumentBus)
)

/**
 * Every metric of the process in the Prometheus text format.
 *
 * @category rendering
 * @since 0.1.0
 */
export const render: Effect.Effect<string> = PrometheusMetrics.format()

/**
 * @category constants
 * @since 0.1.0
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"
