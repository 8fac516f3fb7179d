import { assert, describe, it } from "@effect/vitest"
import {
  Aggregate,
  CommandBus,
  CommandHandler,
  Decider,
  Errors,
  EventStore,
  ExpectedVersion,
  InMemoryEventStore,
  SnapshotStore
} from "@eventline/core"
import { Effect, Layer, Option, Ref, Schedule, Schema, Stream } from "effect"

// A counter with a cap: small enough to read, rich enough to conflict and reject.
const CounterCommand = Schema.TaggedUnion({
  Increment: { counterId: Schema.String.check(Schema.isMinLength(1)), by: Schema.Int.check(Schema.isGreaterThan(0)) },
  Touch: { counterId: Schema.String.check(Schema.isMinLength(1)) }
})
type CounterCommand = typeof CounterCommand.Type
const CounterEvent = Schema.TaggedUnion({ Incremented: { by: Schema.Int } })
type CounterEvent = typeof CounterEvent.Type
class CapExceeded extends Schema.TaggedError<CapExceeded>()("CapExceeded", { value: Schema.Int }) {}

const cap = 1000
const counterDecider: Decider.Decider<CounterCommand, CounterEvent, number, CapExceeded> = {
  initialState: 0,
  decide: (command, value) => {
    if (command._tag === "Touch") return Decider.accept()
    return value + command.by > cap
      ? Decider.reject(new CapExceeded({ value }))
      : Decider.accept(CounterEvent.cases.Incremented.make({ by: command.by }))
  },
  evolve: (value, event) => value + event.by
}
const Counter = Aggregate.make({
  streamType: "Counter",
  decider: counterDecider,
  commands: CounterCommand,
  events: CounterEvent,
  schemaVersion: 1,
  streamId: (command) => command.counterId
})

const increment = (counterId: string, by = 1) => CounterCommand.cases.Increment.make({ counterId, by })

/** Counts the store's appends, stream reads and event lookups, to see round trips from the outside. */
const countingStore = Effect.gen(function* () {
  const inner = yield* InMemoryEventStore.make
  const appends = yield* Ref.make(0)
  const loads = yield* Ref.make(0)
  const lookups = yield* Ref.make(0)
  const store = EventStore.EventStore.of({
    ...inner,
    findEvent: (eventId) =>
      Effect.andThen(
        Ref.update(lookups, (n) => n + 1),
        inner.findEvent(eventId)
      ),
    append: (...args) =>
      Effect.andThen(
        Ref.update(appends, (n) => n + 1),
        inner.append(...args)
      ),
    readStream: (...args) =>
      Stream.unwrap(
        Effect.as(
          Ref.update(loads, (n) => n + 1),
          inner.readStream(...args)
        )
      )
  })
  return { store, appends, loads, lookups }
})

const fast = Schedule.exponential("1 millis").pipe(Schedule.jittered, Schedule.upTo({ times: 50 }))

describe("CommandHandler", () => {
  it.effect("loads, decides and appends with the stream's version", () =>
    Effect.gen(function* () {
      const handle = CommandHandler.make(Counter)
      const first = yield* handle(increment("c-1", 2))
      const second = yield* handle(increment("c-1", 3))
      assert.strictEqual(first.version, 1)
      assert.strictEqual(second.version, 2)
      const loaded = yield* CommandHandler.load(Counter, "c-1")
      assert.deepStrictEqual(loaded, { state: 5, version: 2, snapshotVersion: 0 })
      const [event] = second.events
      assert.strictEqual(event?.type, "Incremented")
      assert.deepStrictEqual(event?.data, { by: 3 })
      assert.strictEqual(event?.streamType, "Counter")
    }).pipe(Effect.provide(InMemoryEventStore.layer))
  )

  it.effect("a stream of another type is refused with a clear InvalidEvent, never decided on", () =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      yield* store.append(
        "shared-id",
        ExpectedVersion.NoStream,
        [
          {
            type: "Other",
            schemaVersion: 1,
            data: {},
            metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
          }
        ],
        { streamType: "Invoice" }
      )
      const error = yield* Effect.flip(CommandHandler.make(Counter)(increment("shared-id")))
      assert.strictEqual(error._tag, "InvalidEvent")
      assert.include(error.message, "belongs to 'Invoice', not 'Counter'")
      assert.strictEqual(yield* store.streamVersion("shared-id"), 1)
    }).pipe(Effect.provide(InMemoryEventStore.layer))
  )

  it.effect(
    "with a category, the aggregate names its streams '<category>-<id>': a client id cannot reach another category",
    () =>
      Effect.gen(function* () {
        const store = yield* EventStore.EventStore
        const Categorized = Aggregate.make({ ...Counter, category: "Counter" })
        assert.strictEqual(Aggregate.streamIdOf(Categorized, increment("c-9")), "Counter-c-9")
        assert.deepStrictEqual(Aggregate.entityIdOf(Categorized, "Counter-Saga-1"), Option.some("Saga-1"))
        assert.isTrue(Option.isNone(Aggregate.entityIdOf(Categorized, "Saga-1")))
        // another writer's stream "Saga-1" and the counter "Saga-1" do not meet
        yield* store.append(
          "Saga-1",
          ExpectedVersion.NoStream,
          [
            {
              type: "Other",
              schemaVersion: 1,
              data: {},
              metadata: { correlationId: "c", occurredAt: "2026-01-01T00:00:00.000Z" }
            }
          ],
          { streamType: "Saga" }
        )
        const result = yield* CommandHandler.make(Categorized)(increment("Saga-1", 3))
        assert.deepInclude(result, { streamId: "Counter-Saga-1", version: 1 })
        assert.strictEqual((yield* CommandHandler.load(Categorized, "Counter-Saga-1")).state, 3)
        assert.strictEqual(yield* store.streamVersion("Saga-1"), 1)
      }).pipe(Effect.provide(InMemoryEventStore.layer))
  )

  it.effect("a rejection is a DecisionRejected carrying the domain error; nothing is written, nothing retried", () =>
    Effect.gen(function* () {
      const { store, appends, loads } = yield* countingStore
      const handle = CommandHandler.make(Counter)
      yield* handle(increment("c-1", 999)).pipe(Effect.provideService(EventStore.EventStore, store))
      const error = yield* Effect.flip(
        handle(increment("c-1", 2)).pipe(Effect.provideService(EventStore.EventStore, store))
      )
      assert.instanceOf(error, Errors.DecisionRejected)
      if (error._tag === "DecisionRejected") {
        assert.instanceOf(error.rejection, CapExceeded)
        assert.deepInclude(error, { streamId: "c-1", commandType: "Increment" })
      }
      assert.strictEqual(yield* Ref.get(appends), 1)
      assert.strictEqual(yield* Ref.get(loads), 2)
      assert.strictEqual(yield* store.streamVersion("c-1"), 1)
    })
  )

  it.effect("a decision without events appends nothing and keeps the version", () =>
    Effect.gen(function* () {
      const { store, appends } = yield* countingStore
      const handle = CommandHandler.make(Counter)
      const run = <A, E>(effect: Effect.Effect<A, E, EventStore.EventStore>) =>
        Effect.provideService(effect, EventStore.EventStore, store)
      yield* run(handle(increment("c-1")))
      const touched = yield* run(handle(CounterCommand.cases.Touch.make({ counterId: "c-1" })))
      assert.deepStrictEqual(touched, { streamId: "c-1", version: 1, events: [] })
      assert.strictEqual(yield* Ref.get(appends), 1)
    })
  )

  it.live("concurrent commands on one stream all land: conflicts are retried with backoff", () =>
    Effect.gen(function* () {
      // a little latency between load and append, as a real database has, so the writers interleave
      const inner = yield* EventStore.EventStore
      const slow = EventStore.EventStore.of({
        ...inner,
        append: (...args) => Effect.andThen(Effect.sleep("1 millis"), inner.append(...args))
      })
      const handle = (command: CounterCommand) =>
        CommandHandler.make(Counter, { conflictRetry: fast })(command).pipe(
          Effect.provideService(EventStore.EventStore, slow)
        )
      const results = yield* Effect.forEach(
        Array.from({ length: 40 }, () => increment("hot")),
        (command) => handle(command),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(
        results.map((result) => result.version).sort((a, b) => a - b),
        Array.from({ length: 40 }, (_, i) => i + 1)
      )
      assert.deepStrictEqual(yield* CommandHandler.load(Counter, "hot"), { state: 40, version: 40, snapshotVersion: 0 })
    }).pipe(Effect.provide(InMemoryEventStore.layer))
  )

  it.live("the retry is bounded: a stream that always conflicts fails after the schedule's attempts", () =>
    Effect.gen(function* () {
      const inner = yield* InMemoryEventStore.make
      const attempts = yield* Ref.make(0)
      const alwaysConflicting = EventStore.EventStore.of({
        ...inner,
        append: (streamId) =>
          Effect.andThen(
            Ref.update(attempts, (n) => n + 1),
            Effect.fail(new Errors.ConcurrencyConflict({ streamId, expected: "0", actual: 7 }))
          )
      })
      const handle = CommandHandler.make(Counter, { conflictRetry: Schedule.recurs(3) })
      const error = yield* Effect.flip(
        handle(increment("c-1")).pipe(Effect.provideService(EventStore.EventStore, alwaysConflicting))
      )
      assert.strictEqual(error._tag, "ConcurrencyConflict")
      assert.strictEqual(yield* Ref.get(attempts), 4)
    })
  )

  it.effect("a caller-supplied expected version is checked and never retried", () =>
    Effect.gen(function* () {
      const { store, loads } = yield* countingStore
      const handle = CommandHandler.make(Counter)
      const run = <A, E>(effect: Effect.Effect<A, E, EventStore.EventStore>) =>
        Effect.provideService(effect, EventStore.EventStore, store)
      yield* run(handle(increment("c-1")))
      yield* run(handle(increment("c-1")))
      const stale = yield* Effect.flip(run(handle(increment("c-1"), { expectedVersion: 1 })))
      assert.deepInclude(stale, { _tag: "ConcurrencyConflict", streamId: "c-1", expected: "1", actual: 2 })
      assert.strictEqual(yield* Ref.get(loads), 3, "one load per command: no retry")
      const current = yield* run(handle(increment("c-1"), { expectedVersion: 2 }))
      assert.strictEqual(current.version, 3)
    })
  )

  it.effect("a command id makes a redelivered command return its first result instead of deciding again", () =>
    Effect.gen(function* () {
      const handle = CommandHandler.make(Counter)
      const first = yield* handle(increment("c-1", 5), { commandId: "cmd-1" })
      yield* handle(increment("c-1", 1))
      const again = yield* handle(increment("c-1", 5), { commandId: "cmd-1" })
      assert.strictEqual(again.duplicate, true)
      assert.strictEqual(again.version, first.version)
      assert.deepStrictEqual(again.events, first.events)
      assert.deepStrictEqual(yield* CommandHandler.load(Counter, "c-1"), { state: 6, version: 2, snapshotVersion: 0 })
      const other = yield* handle(increment("c-1", 5), { commandId: "cmd-2" })
      assert.strictEqual(other.version, 3, "another command id is another command")
    }).pipe(Effect.provide(InMemoryEventStore.layer))
  )

  it.effect("a command id costs no lookup on the way: only a redelivery looks up its first result", () =>
    Effect.gen(function* () {
      const { store, lookups } = yield* countingStore
      const handle = CommandHandler.make(Counter)
      const run = <A, E>(effect: Effect.Effect<A, E, EventStore.EventStore>) =>
        Effect.provideService(effect, EventStore.EventStore, store)
      const first = yield* run(handle(increment("c-1", 5), { commandId: "cmd-1" }))
      assert.isUndefined(first.duplicate)
      assert.strictEqual(yield* Ref.get(lookups), 0)
      yield* run(handle(increment("c-1", cap - 5)))
      // the same command again: the cap now refuses it, yet it was applied: its first result
      const again = yield* run(handle(increment("c-1", 5), { commandId: "cmd-1" }))
      assert.deepInclude(again, { duplicate: true, version: 1 })
      assert.deepStrictEqual(again.events, first.events)
    })
  )

  describe("startsStream", () => {
    const Creating = Aggregate.make({ ...Counter, startsStream: (command) => command._tag === "Increment" })

    it.effect("a create is decided on the initial state and appended without reading the stream", () =>
      Effect.gen(function* () {
        const { store, appends, loads } = yield* countingStore
        const run = <A, E>(effect: Effect.Effect<A, E, EventStore.EventStore>) =>
          Effect.provideService(effect, EventStore.EventStore, store)
        const created = yield* run(CommandHandler.make(Creating)(increment("new-1", 2)))
        assert.strictEqual(created.version, 1)
        assert.deepStrictEqual(
          { appends: yield* Ref.get(appends), loads: yield* Ref.get(loads) },
          { appends: 1, loads: 0 }
        )
      })
    )

    it.effect("on an existing stream it is read and decided as usual: the same state, version and rejection", () =>
      Effect.gen(function* () {
        const handle = CommandHandler.make(Creating)
        yield* handle(increment("c-1", 990))
        const second = yield* handle(increment("c-1", 5))
        assert.strictEqual(second.version, 2)
        assert.deepStrictEqual(yield* CommandHandler.load(Counter, "c-1"), {
          state: 995,
          version: 2,
          snapshotVersion: 0
        })
        const refused = yield* Effect.flip(handle(increment("c-1", 10)))
        assert.strictEqual(refused._tag, "DecisionRejected")
        const stale = yield* Effect.flip(handle(increment("c-1", 1), { expectedVersion: 0 }))
        assert.deepInclude(stale, { _tag: "ConcurrencyConflict", actual: 2 })
      }).pipe(Effect.provide(InMemoryEventStore.layer))
    )

    it.effect("a redelivered create returns its first result", () =>
      Effect.gen(function* () {
        const handle = CommandHandler.make(Creating)
        const first = yield* handle(increment("c-9", 3), { commandId: "create-9", causationId: "request-1" })
        const again = yield* handle(increment("c-9", 3), { commandId: "create-9", causationId: "request-2" })
        assert.deepInclude(again, { duplicate: true, version: 1 })
        assert.deepStrictEqual(again.events, first.events)
        assert.strictEqual((yield* CommandHandler.load(Counter, "c-9")).state, 3)
      }).pipe(Effect.provide(InMemoryEventStore.layer))
    )
  })

  it.effect("correlation and causation ids flow from the command context into every event", () =>
    Effect.gen(function* () {
      const handle = CommandHandler.make(Counter)
      const given = yield* handle(increment("c-1"), {
        correlationId: "corr-1",
        causationId: "cause-1",
        metadata: { userId: "u-7", correlationId: "must-not-win" }
      })
      assert.deepInclude(given.events[0]?.metadata, { correlationId: "corr-1", causationId: "cause-1", userId: "u-7" })
      const fromCommandId = yield* handle(increment("c-1"), { commandId: "cmd-9" })
      assert.deepInclude(fromCommandId.events[0]?.metadata, { correlationId: "cmd-9", causationId: "cmd-9" })
      const generated = yield* handle(increment("c-1"))
      const metadata = generated.events[0]?.metadata
      assert.match(metadata?.correlationId ?? "", /^[0-9a-f-]{36}$/)
      assert.isUndefined(metadata?.causationId)
    }).pipe(Effect.provide(InMemoryEventStore.layer))
  )
})

describe("CommandBus", () => {
  const BusLive = CommandBus.layer([CommandBus.fromAggregate(Counter)]).pipe(
    Layer.provideMerge(InMemoryEventStore.layer)
  )

  it.effect("decodes commands from JSON and routes them by tag", () =>
    Effect.gen(function* () {
      const bus = yield* CommandBus.CommandBus
      const result = yield* bus.dispatchUnknown(
        { _tag: "Increment", counterId: "c-1", by: 4 },
        { correlationId: "r-1" }
      )
      assert.strictEqual(result.version, 1)
      assert.strictEqual(result.events[0]?.metadata.correlationId, "r-1")
      assert.deepStrictEqual([...bus.commandTypes].sort(), ["Increment", "Touch"])
    }).pipe(Effect.provide(BusLive))
  )

  it.effect(
    "an unknown tag is UnknownCommand; a bad payload is InvalidCommand naming the field; nothing is written",
    () =>
      Effect.gen(function* () {
        const bus = yield* CommandBus.CommandBus
        const store = yield* EventStore.EventStore
        const unknown = yield* Effect.flip(bus.dispatchUnknown({ _tag: "Explode", counterId: "c-1" }))
        assert.deepInclude(unknown, { _tag: "UnknownCommand", commandType: "Explode" })
        const invalid = yield* Effect.flip(bus.dispatchUnknown({ _tag: "Increment", counterId: "c-1", by: -1 }))
        assert.strictEqual(invalid._tag, "InvalidCommand")
        assert.include(invalid.message, "by")
        const untagged = yield* Effect.flip(bus.dispatchUnknown({ counterId: "c-1" }))
        assert.strictEqual(untagged._tag, "InvalidCommand")
        const emptyId = { _tag: "Increment", counterId: "", by: 1 }
        const typedButInvalid = yield* Effect.flip(bus.dispatch(emptyId))
        assert.strictEqual(typedButInvalid._tag, "InvalidCommand")
        assert.strictEqual(yield* store.streamVersion("c-1"), 0)
        assert.strictEqual(yield* store.streamVersion(""), 0)
      }).pipe(Effect.provide(BusLive))
  )

  it.effect("a domain rejection comes through the bus as DecisionRejected", () =>
    Effect.gen(function* () {
      const bus = yield* CommandBus.CommandBus
      const error = yield* Effect.flip(bus.dispatch(increment("c-1", cap + 1)))
      assert.strictEqual(error._tag, "DecisionRejected")
    }).pipe(Effect.provide(BusLive))
  )

  it.effect("custom handlers register by tag, and a tag registered twice is refused at start-up", () =>
    Effect.gen(function* () {
      const custom: CommandBus.Registration<never> = CommandBus.handlers(CounterCommand, {
        Increment: (command) => Effect.succeed({ streamId: command.counterId, version: command.by, events: [] }),
        Touch: (command) => Effect.succeed({ streamId: command.counterId, version: 0, events: [] })
      })
      const result = yield* Effect.flatMap(CommandBus.make([custom]), (bus) => bus.dispatch(increment("x", 7)))
      assert.strictEqual(result.version, 7)
      const twice = yield* Effect.exit(
        CommandBus.make<EventStore.EventStore>([custom, CommandBus.fromAggregate(Counter)])
      )
      assert.isTrue(twice._tag === "Failure")
    }).pipe(Effect.provide(InMemoryEventStore.layer))
  )

  it.effect("the store version is untouched by rejected expected versions through the bus", () =>
    Effect.gen(function* () {
      const bus = yield* CommandBus.CommandBus
      const store = yield* EventStore.EventStore
      yield* bus.dispatch(increment("c-2"))
      const error = yield* Effect.flip(bus.dispatch(increment("c-2"), { expectedVersion: 0 }))
      assert.strictEqual(error._tag, "ConcurrencyConflict")
      assert.strictEqual(yield* store.streamVersion("c-2"), 1)
      assert.isTrue(ExpectedVersion.isSatisfiedBy(ExpectedVersion.exact(1), yield* store.streamVersion("c-2")))
    }).pipe(Effect.provide(BusLive))
  )
})

describe("CommandHandler with snapshots", () => {
  const SnapshottedCounter = Aggregate.make({
    ...Counter,
    snapshot: { state: Schema.Int, schemaVersion: 2, every: 3 }
  })
  const Stores = Layer.mergeAll(InMemoryEventStore.layer, SnapshotStore.layerInMemory)

  /** Records the `from` of every stream read. */
  const recordingReads = Effect.gen(function* () {
    const inner = yield* EventStore.EventStore
    const froms = yield* Ref.make<ReadonlyArray<number | undefined>>([])
    const store = EventStore.EventStore.of({
      ...inner,
      readStream: (streamId, options) =>
        Stream.unwrap(
          Effect.as(
            Ref.update(froms, (all) => [...all, options?.from]),
            inner.readStream(streamId, options)
          )
        )
    })
    return { store, froms }
  })

  it.effect("writes a snapshot every N events and loads snapshot + tail, equal to a full replay", () =>
    Effect.gen(function* () {
      const handle = CommandHandler.make(SnapshottedCounter)
      for (let i = 1; i <= 7; i++) yield* handle(increment("c-1", i))
      const snapshots = yield* SnapshotStore.SnapshotStore
      const snapshot = yield* snapshots.load("c-1")
      assert.deepStrictEqual(Option.getOrUndefined(snapshot), {
        streamId: "c-1",
        streamType: "Counter",
        version: 6,
        schemaVersion: 2,
        state: 21
      })
      const { store, froms } = yield* recordingReads
      const loaded = yield* CommandHandler.load(SnapshottedCounter, "c-1").pipe(
        Effect.provideService(EventStore.EventStore, store)
      )
      assert.deepStrictEqual(loaded, { state: 28, version: 7, snapshotVersion: 6 })
      assert.deepStrictEqual(yield* Ref.get(froms), [7], "only the tail after the snapshot is read")
      const replayed = yield* CommandHandler.load(Counter, "c-1")
      assert.strictEqual(replayed.state, loaded.state)
      assert.strictEqual(replayed.version, loaded.version)
    }).pipe(Effect.provide(Stores))
  )

  it.effect("ignores a snapshot of another schema version or one that does not decode, and rebuilds it", () =>
    Effect.gen(function* () {
      const handle = CommandHandler.make(SnapshottedCounter)
      const snapshots = yield* SnapshotStore.SnapshotStore
      for (let i = 1; i <= 4; i++) yield* handle(increment("old", 1))
      yield* snapshots.save({ streamId: "old", streamType: "Counter", version: 4, schemaVersion: 1, state: 999 })
      const loaded = yield* CommandHandler.load(SnapshottedCounter, "old")
      assert.deepStrictEqual(loaded, { state: 4, version: 4, snapshotVersion: 0 })
      yield* handle(increment("old", 1))
      const rebuilt = yield* snapshots.load("old")
      assert.deepInclude(Option.getOrUndefined(rebuilt), { version: 5, schemaVersion: 2, state: 5 })

      yield* snapshots.save({ streamId: "old", streamType: "Counter", version: 6, schemaVersion: 2, state: "garbage" })
      const afterGarbage = yield* CommandHandler.load(SnapshottedCounter, "old")
      assert.deepStrictEqual(afterGarbage, { state: 5, version: 5, snapshotVersion: 0 })
    }).pipe(Effect.provide(Stores))
  )

  it.effect("a failing snapshot store never fails the command", () =>
    Effect.gen(function* () {
      const broken = SnapshotStore.SnapshotStore.of({
        load: () => Effect.fail(new Errors.InfrastructureError({ operation: "snapshot.load", cause: "down" })),
        save: () => Effect.fail(new Errors.InfrastructureError({ operation: "snapshot.save", cause: "down" }))
      })
      const handle = CommandHandler.make(SnapshottedCounter)
      for (let i = 1; i <= 5; i++) {
        yield* handle(increment("c-2", 1)).pipe(Effect.provideService(SnapshotStore.SnapshotStore, broken))
      }
      assert.deepStrictEqual(yield* CommandHandler.load(Counter, "c-2"), { state: 5, version: 5, snapshotVersion: 0 })
    }).pipe(Effect.provide(InMemoryEventStore.layer))
  )
})
