import { assert, describe, it } from "@effect/vitest"
import { Aggregate, CommandBus, CommandHandler, Decider, EventStore, InMemoryEventStore } from "@eventline/core"
import { Arbitrary, Clock, Effect, Layer, Result, Schema, Stream } from "effect"
import { TestClock } from "effect/testing"
import { OrderAggregate, OrderCommand, OrderDecider, OrderEvent } from "../src/index.ts"

// ---------------------------------------------------------------------------------------------
// Generators. Commands come from the command schema itself, so quantities, prices and item counts
// reach their bounds, with two changes: order ids come from a small pool so that commands keep
// hitting the same orders, and product ids from a small pool because long random product ids only
// slow generation down (the decider copies them and nothing else).
// ---------------------------------------------------------------------------------------------

const ProductId = Schema.Literals(["book", "pen", "Füller 🖋"])
const Items = Schema.Array(Schema.Struct({ ...OrderCommand.OrderItem.fields, productId: ProductId })).check(
  Schema.isBetweenLength(1, OrderCommand.maxItems)
)

/** Command sequences against the orders of this pool. */
const commandsOn = <const Ids extends ReadonlyArray<string>>(ids: Ids) => {
  const OrderId = Schema.Literals(ids)
  const Command = Schema.TaggedUnion({
    CreateOrder: { ...OrderCommand.CreateOrder.fields, orderId: OrderId, items: Items },
    ConfirmOrder: { ...OrderCommand.ConfirmOrder.fields, orderId: OrderId },
    CancelOrder: { ...OrderCommand.CancelOrder.fields, orderId: OrderId }
  })
  return Arbitrary.array(Arbitrary.schema(Command), { maxLength: 50 })
}

const oneOrder = commandsOn(["order-1"])
const threeOrders = commandsOn(["order-a", "order-b", "order-c"])

/** Any events, in any order (also ones the decider would never decide): `evolve` must be total. */
const anyEvents = Arbitrary.array(
  Arbitrary.schema(
    Schema.TaggedUnion({
      OrderCreated: {
        ...OrderEvent.OrderCreated.fields,
        items: Schema.Array(Schema.Struct({ ...OrderEvent.OrderLine.fields, productId: ProductId })).check(
          Schema.isBetweenLength(1, 5)
        )
      },
      OrderConfirmed: OrderEvent.OrderConfirmed.fields,
      OrderCancelled: OrderEvent.OrderCancelled.fields
    })
  ),
  { maxLength: 50 }
)

/** A split point; taken modulo (length + 1) of the stream it splits. */
const splitPoint = Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 50 })))

/** The decision time of the i-th command of a run. */
const timeOf = (index: number): string => new Date(Date.UTC(2026, 0, 1) + index * 61_000).toISOString()

// ---------------------------------------------------------------------------------------------
// The model: what the decider must do, stated as the order's life cycle.
// ---------------------------------------------------------------------------------------------

type Status = OrderDecider.OrderStatus
type State = OrderDecider.OrderState

/** The only status changes an order may go through. Cancelled is terminal. */
const legalTransitions: Readonly<Record<Status, ReadonlyArray<Status>>> = {
  None: ["Pending"],
  Pending: ["Confirmed", "Cancelled"],
  Confirmed: ["Cancelled"],
  Cancelled: []
}

/** The status each command asks for. */
const targetOf = (command: OrderCommand.OrderCommand): Status =>
  command._tag === "CreateOrder" ? "Pending" : command._tag === "ConfirmOrder" ? "Confirmed" : "Cancelled"

/** The rejection the rules call for when the command's transition is not legal. */
const expectedRejection = (command: OrderCommand.OrderCommand, status: Status): OrderDecider.OrderRejection => {
  const { orderId } = command
  if (command._tag === "CreateOrder") return new OrderDecider.OrderAlreadyExists({ orderId })
  if (status === "None") return new OrderDecider.OrderNotFound({ orderId })
  if (command._tag === "ConfirmOrder") return new OrderDecider.OrderNotPending({ orderId, status })
  return new OrderDecider.OrderAlreadyCancelled({ orderId })
}

/** The events the rules call for when the command is accepted. */
const expectedEvents = (command: OrderCommand.OrderCommand, now: string): ReadonlyArray<OrderEvent.OrderEvent> => {
  switch (command._tag) {
    case "CreateOrder":
      return [
        OrderEvent.OrderCreated.make({
          customerId: command.customerId,
          currency: command.currency ?? OrderEvent.defaultCurrency,
          items: command.items,
          totalAmount: command.items.reduce((sum, item) => sum + item.price * item.quantity, 0)
        })
      ]
    case "ConfirmOrder":
      return [OrderEvent.OrderConfirmed.make({ confirmedAt: now })]
    case "CancelOrder":
      return [OrderEvent.OrderCancelled.make({ reason: command.reason, cancelledAt: now })]
  }
}

/** A rejection as a plain record: tag, fields and message (errors do not compare well as objects). */
const plain = (rejection: unknown): unknown =>
  Schema.is(OrderDecider.OrderRejection)(rejection)
    ? { ...rejection, _tag: rejection._tag, message: rejection.message }
    : { notAnOrderRejection: rejection }

/** `deepStrictEqual` that prints both values in full (a falsified property shows only the message). */
const assertEqual = <A>(actual: A, expected: A, what: string): void => {
  try {
    assert.deepStrictEqual(actual, expected)
  } catch {
    assert.fail(`${what}\n  actual:   ${JSON.stringify(actual)}\n  expected: ${JSON.stringify(expected)}`)
  }
}

/** What must hold of every state folded from decided events. */
const assertInvariants = (state: State, created: OrderCommand.CreateOrder | undefined): void => {
  if (state.status === "None") {
    assert.isUndefined(created, "an order that was created has a status other than None")
    assertEqual(state, OrderDecider.initialState, "an order that was never created has the initial state")
    return
  }
  assert.isDefined(created, `status ${state.status} without a CreateOrder`)
  if (created === undefined) return
  assert.strictEqual(state.customerId, created.customerId)
  assert.strictEqual(state.currency, created.currency ?? "EUR", "an order without a currency is in euros")
  assertEqual(state.items, created.items, "the items are those of CreateOrder")
  const total = created.items.reduce((sum, item) => sum + item.price * item.quantity, 0)
  assert.strictEqual(state.totalAmount, total, "totalAmount is the sum of price × quantity")
  assert.isTrue(Number.isSafeInteger(state.totalAmount), "totalAmount is an exact integer")
}

const decider = OrderDecider.OrderDecider

// ---------------------------------------------------------------------------------------------

describe("Order properties", () => {
  it.effect("the generators reach every status × command pair, many times", () =>
    Effect.gen(function* () {
      const samples = yield* Arbitrary.sampleEffect(oneOrder, { count: 300, size: 100, seed: 1 })
      const seen = new Map<string, number>()
      for (const commands of samples) {
        let state = decider.initialState
        for (const [index, command] of commands.entries()) {
          const cell = `${state.status} × ${command._tag}`
          seen.set(cell, (seen.get(cell) ?? 0) + 1)
          const decision = decider.decide(command, state, { now: timeOf(index) })
          if (Result.isSuccess(decision)) state = Decider.fold(decider, decision.success, state)
        }
      }
      for (const status of ["None", "Pending", "Confirmed", "Cancelled"] as const) {
        for (const tag of ["CreateOrder", "ConfirmOrder", "CancelOrder"] as const) {
          assert.isAtLeast(seen.get(`${status} × ${tag}`) ?? 0, 20, `${status} × ${tag}`)
        }
      }
    })
  )

  it.prop(
    "(a) any command sequence keeps the life cycle legal, the total exact, and rejections inert",
    [oneOrder],
    ([commands]) => {
      let state = decider.initialState
      let created: OrderCommand.CreateOrder | undefined
      for (const [index, command] of commands.entries()) {
        const now = timeOf(index)
        const before = structuredClone(state)
        const decision = decider.decide(command, state, { now })
        assertEqual(state, before, "decide does not modify the state it is given")
        const legal = legalTransitions[state.status].includes(targetOf(command))

        if (Result.isFailure(decision)) {
          assert.isFalse(legal, `${command._tag} on a ${state.status} order is legal but was rejected`)
          assertEqual(
            plain(decision.failure),
            plain(expectedRejection(command, state.status)),
            `the rejection of ${command._tag} on a ${state.status} order`
          )
          // a rejection carries no events, so the state stays what it was
          continue
        }

        assert.isTrue(legal, `${command._tag} on a ${state.status} order was accepted`)
        for (const event of decision.success) {
          const next = decider.evolve(state, event)
          assert.include(
            legalTransitions[state.status],
            next.status,
            `${event._tag} moved the order from ${state.status} to ${next.status}`
          )
          state = next
        }
        if (command._tag === "CreateOrder") created = command
        assertInvariants(state, created)
        assertEqual(decision.success, expectedEvents(command, now), `the events of ${command._tag}`)
      }
      assertInvariants(state, created)
    },
    { arbitrary: { runs: 500, size: 100 } }
  )

  describe("(b) replay", () => {
    const StateJson = Schema.toCodecJson(OrderDecider.OrderState)
    const EventsJson = Schema.toCodecJson(Schema.Array(OrderEvent.OrderEvent))

    /** Replay is deterministic, a snapshot plus its tail gives the full replay, and JSON changes nothing. */
    const replayLaws = (events: ReadonlyArray<OrderEvent.OrderEvent>, split: number): void => {
      const full = Decider.fold(decider, events)
      assertEqual(Decider.fold(decider, events), full, "folding the same events twice")

      const k = split % (events.length + 1)
      const snapshot = Decider.fold(decider, events.slice(0, k))
      const kept = structuredClone(snapshot)
      assertEqual(
        Decider.fold(decider, events.slice(k), snapshot),
        full,
        `fold(suffix, fold(prefix)) = fold(all), split at ${k}`
      )
      assertEqual(snapshot, kept, "folding on from a snapshot does not modify it")

      // a stored snapshot and stored events (JSON) replay to the same state
      const storedSnapshot = Schema.decodeUnknownSync(StateJson)(
        JSON.parse(JSON.stringify(Schema.encodeSync(StateJson)(snapshot)))
      )
      const storedEvents = Schema.decodeUnknownSync(EventsJson)(
        JSON.parse(JSON.stringify(Schema.encodeSync(EventsJson)(events)))
      )
      assertEqual(
        Decider.fold(decider, storedEvents.slice(k), storedSnapshot),
        full,
        `a snapshot and events read back from JSON, split at ${k}`
      )
    }

    /** The events a command sequence decides. */
    const decided = (commands: ReadonlyArray<OrderCommand.OrderCommand>): ReadonlyArray<OrderEvent.OrderEvent> => {
      const events: Array<OrderEvent.OrderEvent> = []
      let state = decider.initialState
      for (const [index, command] of commands.entries()) {
        const decision = decider.decide(command, state, { now: timeOf(index) })
        if (Result.isFailure(decision)) continue
        events.push(...decision.success)
        state = Decider.fold(decider, decision.success, state)
      }
      return events
    }

    it.prop("of decided streams", [oneOrder, splitPoint], ([commands, split]) => replayLaws(decided(commands), split), {
      arbitrary: { runs: 300, size: 100 }
    })

    it.prop("of any event sequence", [anyEvents, splitPoint], ([events, split]) => replayLaws(events, split), {
      arbitrary: { runs: 300, size: 30 }
    })
  })

  it.effect.prop(
    "(c) through the command bus and the store, the stream replays to the pure model",
    [threeOrders],
    ([commands]) =>
      Effect.gen(function* () {
        const bus = yield* CommandBus.CommandBus
        const store = yield* EventStore.EventStore
        const model = new Map<string, { state: State; events: Array<OrderEvent.OrderEvent> }>()

        for (const [index, command] of commands.entries()) {
          yield* TestClock.adjust("61 seconds")
          // the handler reads the same clock for the decision time
          const now = new Date(yield* Clock.currentTimeMillis).toISOString()
          const entry = model.get(command.orderId) ?? { state: decider.initialState, events: [] }
          model.set(command.orderId, entry)
          const version = yield* store.streamVersion(OrderAggregate.streamIdOf(command.orderId))
          assert.strictEqual(version, entry.events.length, `the version of ${command.orderId}`)

          const expected = decider.decide(command, entry.state, { now })
          // typed, or as JSON the way HTTP hands it over
          const outcome = yield* Effect.result(
            index % 2 === 0 ? bus.dispatch(command) : bus.dispatchUnknown(JSON.parse(JSON.stringify(command)))
          )

          if (Result.isFailure(expected)) {
            if (Result.isSuccess(outcome)) return assert.fail(`${command._tag} was accepted by the bus, not the model`)
            const error = outcome.failure
            if (error._tag !== "DecisionRejected") return assert.fail(`expected DecisionRejected: ${error.message}`)
            assert.strictEqual(
              error.streamId,
              OrderAggregate.streamIdOf(command.orderId),
              "the rejection names the order's stream"
            )
            assert.strictEqual(error.commandType, command._tag)
            assertEqual(
              plain(error.rejection),
              plain(expected.failure),
              `the rejection of ${command._tag} through the bus`
            )
            assert.strictEqual(
              yield* store.streamVersion(OrderAggregate.streamIdOf(command.orderId)),
              version,
              "a rejection appends nothing"
            )
            continue
          }

          if (Result.isFailure(outcome)) return assert.fail(`${command._tag} failed: ${outcome.failure.message}`)
          const result = outcome.success
          assert.strictEqual(
            result.streamId,
            `Order-${command.orderId}`,
            "the stream is the order id in the Order category"
          )
          assert.strictEqual(result.version, version + expected.success.length)
          assertEqual(
            result.events.map((event) => [event.version, event.streamType, event.type, event.schemaVersion]),
            // OrderCreated is written at version 2 (OrderEvent.upcasters), the others at 1
            expected.success.map((event, index) => [
              version + index + 1,
              "Order",
              event._tag,
              event._tag === "OrderCreated" ? 2 : 1
            ]),
            "version, stream type, event type and schema version of the appended events"
          )
          const stored = yield* Effect.forEach(result.events, (event) =>
            Aggregate.decodeEvent(OrderAggregate.OrderAggregate, event)
          )
          assertEqual(stored, expected.success, `the stored events of ${command._tag}`)
          entry.events.push(...expected.success)
          entry.state = Decider.fold(decider, expected.success, entry.state)
        }

        for (const [orderId, entry] of model) {
          const loaded = yield* CommandHandler.load(OrderAggregate.OrderAggregate, OrderAggregate.streamIdOf(orderId))
          assert.strictEqual(loaded.version, entry.events.length)
          assertEqual(loaded.state, entry.state, `the state of ${orderId} loaded from the store`)
          assertEqual(entry.state, Decider.fold(decider, entry.events), `the model state of ${orderId}`)
          const stream = yield* Stream.runCollect(store.readStream(OrderAggregate.streamIdOf(orderId))).pipe(
            Effect.catchTag("StreamNotFound", () => Effect.succeed([])),
            Effect.map((events) => Array.from(events))
          )
          assertEqual(
            stream.map((event) => event.version),
            entry.events.map((_, index) => index + 1),
            `the versions of ${orderId} are 1..n`
          )
          const replayed = yield* Effect.forEach(stream, (event) =>
            Aggregate.decodeEvent(OrderAggregate.OrderAggregate, event)
          )
          assertEqual(replayed, entry.events, `the stream of ${orderId}`)
        }
      }).pipe(
        Effect.provide(
          CommandBus.layer([CommandBus.fromAggregate(OrderAggregate.OrderAggregate)]).pipe(
            Layer.provideMerge(InMemoryEventStore.layer)
          )
        )
      ),
    { timeout: 60_000, arbitrary: { runs: 400, size: 100 } }
  )
})
