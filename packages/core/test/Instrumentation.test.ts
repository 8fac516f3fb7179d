import { assert, describe, it } from "@effect/vitest"
import {
  Aggregate,
  CommandBus,
  Decider,
  EventStore,
  ExpectedVersion,
  InMemoryEventStore,
  Instrumentation
} from "@eventline/core"
import { Effect, Layer, Metric, Ref, Schema } from "effect"

// its own stream and command types, so the process-wide metrics of other tests never mix in
const Command = Schema.TaggedUnion({
  MeteredAdd: { id: Schema.String, by: Schema.Int }
})
type Command = typeof Command.Type
const Event = Schema.TaggedUnion({ MeteredAdded: { by: Schema.Int } })
type Event = typeof Event.Type
class TooMuch extends Schema.TaggedError<TooMuch>()("TooMuch", {}) {}

const decider: Decider.Decider<Command, Event, number, TooMuch> = {
  initialState: 0,
  decide: (command, total) =>
    total + command.by > 10
      ? Decider.reject(new TooMuch())
      : Decider.accept(Event.cases.MeteredAdded.make({ by: command.by })),
  evolve: (total, event) => total + event.by
}
const Metered = Aggregate.make({
  streamType: "Metered",
  decider,
  commands: Command,
  events: Event,
  schemaVersion: 1,
  streamId: (command) => command.id
})

const count = (metric: Metric.Metric<number, Metric.CounterState<number>>, attributes: Record<string, string>) =>
  Effect.map(Metric.value(Metric.withAttributes(metric, attributes)), (state) => state.count)

/** The in-memory store, remembering the span each append ran in. */
const spyingStore = (spans: Ref.Ref<ReadonlyArray<string>>) =>
  Layer.effect(
    EventStore.EventStore,
    Effect.map(InMemoryEventStore.make, (inner) =>
      EventStore.EventStore.of({
        ...inner,
        append: (...args) =>
          Effect.andThen(
            Effect.flatMap(Effect.currentSpan, (span) => {
              const outer =
                span.parent._tag === "Some" && span.parent.value._tag === "Span" ? span.parent.value : undefined
              // the outermost span whose name says what ran: a command, or nothing
              let command = "-"
              for (let at = outer; at !== undefined; ) {
                if (at.name.startsWith("Command ")) command = at.name
                at = at.parent._tag === "Some" && at.parent.value._tag === "Span" ? at.parent.value : undefined
              }
              return Ref.update(spans, (names) => [...names, `${command} > ${span.name}`])
            }).pipe(Effect.ignore),
            inner.append(...args)
          )
      })
    )
  )

describe("Instrumentation", () => {
  it.effect("counts commands by outcome, appends, events and conflicts; dispatches and appends run in spans", () =>
    Effect.gen(function* () {
      const spans = yield* Ref.make<ReadonlyArray<string>>([])
      const program = Effect.gen(function* () {
        const bus = yield* CommandBus.CommandBus
        const store = yield* EventStore.EventStore
        const accepted0 = yield* count(Instrumentation.commands, { command: "MeteredAdd", outcome: "accepted" })
        const rejected0 = yield* count(Instrumentation.commands, { command: "MeteredAdd", outcome: "rejected" })
        const appends0 = yield* count(Instrumentation.appends, { stream_type: "Metered" })
        const events0 = yield* count(Instrumentation.appendedEvents, { stream_type: "Metered" })
        const conflicts0 = yield* count(Instrumentation.conflicts, { stream_type: "Metered" })

        yield* bus.dispatch(Command.cases.MeteredAdd.make({ id: "m-1", by: 4 }))
        yield* bus.dispatch(Command.cases.MeteredAdd.make({ id: "m-1", by: 5 }))
        yield* Effect.flip(bus.dispatch(Command.cases.MeteredAdd.make({ id: "m-1", by: 5 })))
        const conflict = yield* Effect.flip(
          store.append(
            "m-1",
            ExpectedVersion.exact(1),
            [
              {
                type: "MeteredAdded",
                schemaVersion: 1,
                data: { by: 1 },
                metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
              }
            ],
            { streamType: "Metered" }
          )
        )
        assert.strictEqual(conflict._tag, "ConcurrencyConflict")

        assert.strictEqual(
          (yield* count(Instrumentation.commands, { command: "MeteredAdd", outcome: "accepted" })) - accepted0,
          2
        )
        assert.strictEqual(
          (yield* count(Instrumentation.commands, { command: "MeteredAdd", outcome: "rejected" })) - rejected0,
          1
        )
        assert.strictEqual((yield* count(Instrumentation.appends, { stream_type: "Metered" })) - appends0, 2)
        assert.strictEqual((yield* count(Instrumentation.appendedEvents, { stream_type: "Metered" })) - events0, 2)
        assert.strictEqual((yield* count(Instrumentation.conflicts, { stream_type: "Metered" })) - conflicts0, 1)
      })
      const layer = Instrumentation.layerBus.pipe(
        Layer.provide(CommandBus.layer([CommandBus.fromAggregate(Metered)])),
        Layer.provideMerge(Instrumentation.layerStore),
        Layer.provide(spyingStore(spans))
      )
      yield* Effect.provide(program, layer)
      assert.deepStrictEqual(yield* Ref.get(spans), [
        "Command MeteredAdd > EventStore.append",
        "Command MeteredAdd > EventStore.append",
        "- > EventStore.append"
      ])
    })
  )

  it.effect("the subscription metrics keep the names the engine has always exported", () =>
    Effect.sync(() => {
      assert.strictEqual(Instrumentation.subscriptionEventsHandled.id, "eventline_subscription_events_total")
      assert.strictEqual(Instrumentation.subscriptionDeadLetters.id, "eventline_subscription_dead_letters_total")
      assert.strictEqual(Instrumentation.subscriptionLag.id, "eventline_subscription_lag_events")
    })
  )
})
