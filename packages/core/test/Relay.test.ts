import { assert, layer } from "@effect/vitest"
import {
  Errors,
  EventBus,
  type EventEnvelope,
  EventStore,
  ExpectedVersion,
  InMemoryStore,
  InProcessBus,
  Relay
} from "@eventline/core"
import { Effect, Exit, Layer, Option, References, Schedule, Scope } from "effect"

const event = (round: number): EventEnvelope.NewEvent => ({
  type: "Ticked",
  schemaVersion: 1,
  data: { round },
  metadata: { correlationId: "relay-test", occurredAt: "2026-01-01T00:00:00.000Z" }
})

const failing = (
  bus: InProcessBus.InProcessBus["Service"],
  broken: { down: boolean }
): EventBus.EventBus["Service"] => ({
  ...bus,
  publish: (topic, events) =>
    broken.down
      ? Effect.fail(new Errors.InfrastructureError({ operation: "publish", cause: "down on purpose, in this test" }))
      : bus.publish(topic, events)
})

layer(Layer.mergeAll(InMemoryStore.layer, InProcessBus.layer()), { excludeTestServices: true })(
  "Relay on the in-memory store and the in-process bus",
  (it) => {
    it.effect("every event reaches <streamtype>-events in stream order per key; a restart sends nothing twice", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const bus = yield* InProcessBus.InProcessBus
        const streams = ["s0", "s1", "s2"].map((s) => `Ticker-${s}`)
        for (let round = 0; round < 10; round++) {
          for (const stream of streams) {
            yield* store.append(stream, ExpectedVersion.Any, [event(round)], { streamType: "Ticker" })
          }
        }
        const first = yield* Scope.make()
        const relay = yield* Relay.start({ name: "relay-a", batchSize: 7 }).pipe(Scope.provide(first))
        yield* relay.caughtUp
        yield* Scope.close(first, Exit.void)
        const records = yield* bus.records("ticker-events")
        assert.strictEqual(records.length, 30)
        for (const stream of streams) {
          assert.deepStrictEqual(
            records.filter((r) => r.key === stream).map((r) => r.event.version),
            Array.from({ length: 10 }, (_, i) => i + 1)
          )
        }
        yield* store.append("Ticker-s0", ExpectedVersion.Any, [event(10)], { streamType: "Ticker" })
        yield* Effect.scoped(Effect.flatMap(Relay.start({ name: "relay-a" }), (again) => again.caughtUp))
        assert.strictEqual((yield* bus.records("ticker-events")).length, 31, "resumed from its checkpoint")
      })
    )

    it.effect("a failing bus holds the checkpoint: nothing is lost, and everything goes once it is back", () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const bus = yield* InProcessBus.InProcessBus
        const broken = { down: true }
        for (let round = 0; round < 5; round++) {
          yield* store.append("Outage-1", ExpectedVersion.Any, [event(round)], { streamType: "Outage" })
        }
        yield* Effect.scoped(
          Effect.gen(function* () {
            const relay = yield* Relay.start({
              name: "relay-outage",
              streamTypes: ["Outage"],
              retry: Schedule.spaced("20 millis")
            })
            yield* Effect.sleep("300 millis")
            assert.deepStrictEqual(yield* bus.records("outage-events"), [])
            assert.isTrue(Option.isNone(yield* relay.checkpoint) || (yield* relay.lag).events === 5)
            broken.down = false
            yield* relay.caughtUp
          })
        ).pipe(
          Effect.provideService(EventBus.EventBus, failing(bus, broken)),
          // the relay warns on every failed publish, which this test provokes on purpose
          Effect.provideService(References.MinimumLogLevel, "Error")
        )
        assert.deepStrictEqual(
          (yield* bus.records("outage-events")).map((r) => r.event.version),
          [1, 2, 3, 4, 5]
        )
      })
    )
  }
)
