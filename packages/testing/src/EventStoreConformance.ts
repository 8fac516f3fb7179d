/**
 * The EventStore conformance suite: every rule of the `EventStore` contract and DESIGN.md
 * invariants 1 to 3, as tests any implementation must pass. The in-memory, PGlite and PostgreSQL
 * stores all run this same suite.
 *
 * Tests share one store per suite, so each works in streams and a stream type of its own.
 *
 * @since 0.1.0
 */
import { assert, layer } from "@effect/vitest"
import { type Errors, type EventEnvelope, EventStore, ExpectedVersion, Position, Uuid } from "@eventline/core"
import { Arbitrary, Effect, Exit, type Layer, Option, Random, Result, Schedule, Schema, Stream } from "effect"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly timeout?: number | undefined
}

const unique = (prefix: string) => Effect.map(Uuid.makeV7, (id) => `${prefix}-${id}`)

const event = (type: string, data: Schema.Json = {}, eventId?: string): EventEnvelope.NewEvent => ({
  ...(eventId === undefined ? {} : { eventId }),
  type,
  schemaVersion: 1,
  data,
  metadata: { correlationId: "c-1", occurredAt: "2026-01-01T00:00:00.000Z" }
})

const events = (count: number, type = "Happened") => Array.from({ length: count }, (_, index) => event(type, { index }))

const readStream = (streamId: string, options?: EventStore.ReadStreamOptions) =>
  EventStore.EventStore.use((store) => Stream.runCollect(store.readStream(streamId, options)))

/**
 * Read the global log, waiting (up to 10 s) until at least `atLeast` events are visible: a
 * gap-safe reader sees a committed event only once every older transaction (anywhere in the
 * database cluster, e.g. another test's) has finished, so visibility may lag the append.
 *
 * @category reading
 * @since 0.1.0
 */
export const readAllVisible = (options: EventStore.ReadAllOptions, atLeast: number) =>
  EventStore.EventStore.use((store) =>
    Stream.runCollect(store.readAll(options)).pipe(
      Effect.repeat({
        until: (events) => events.length >= atLeast,
        schedule: Schedule.spaced("20 millis").pipe(Schedule.upTo({ duration: "10 seconds" }))
      })
    )
  )

const readAllOf = (streamType: string, options?: Omit<EventStore.ReadAllOptions, "streamTypes">, atLeast = 0) =>
  readAllVisible({ ...options, streamTypes: [streamType] }, atLeast)

const assertPositionsIncrease = (recorded: ReadonlyArray<EventEnvelope.RecordedEvent>) => {
  for (let i = 1; i < recorded.length; i++) {
    const previous = recorded[i - 1] as EventEnvelope.RecordedEvent
    const current = recorded[i] as EventEnvelope.RecordedEvent
    assert.strictEqual(Position.compare(previous.position, current.position), -1, "positions must increase")
  }
}

/**
 * One planned append of a concurrency run.
 *
 * @category models
 * @since 0.1.0
 */
export interface PlannedAppend {
  readonly stream: number
  readonly expected: "Any" | "NoStream" | "StreamExists" | "Exact"
  readonly exactVersion: number
  readonly count: number
}

/**
 * Random appends for a concurrency run: streams 0..4, mostly `Exact` guesses of small versions so
 * that many appends contend for the same version.
 *
 * @category arbitraries
 * @since 0.1.0
 */
export const plannedAppends: Arbitrary.Arbitrary<Array<PlannedAppend>> = Arbitrary.array(
  Arbitrary.schema(
    Schema.Struct({
      stream: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 4 })),
      expected: Schema.Literals(["Any", "NoStream", "StreamExists", "Exact", "Exact", "Exact"]),
      exactVersion: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 12 })),
      count: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 3 }))
    })
  ),
  { minLength: 1, maxLength: 60 }
)

const toExpected = (plan: PlannedAppend): ExpectedVersion.ExpectedVersion => {
  switch (plan.expected) {
    case "Any":
      return ExpectedVersion.Any
    case "NoStream":
      return ExpectedVersion.NoStream
    case "StreamExists":
      return ExpectedVersion.StreamExists
    case "Exact":
      return ExpectedVersion.exact(plan.exactVersion)
  }
}

/**
 * Run all planned appends at once, then check the invariants: versions 1..n with no gaps per
 * stream; every successful append's events are stored exactly at the versions it was told, and
 * no failed append left anything; of appends expecting the same exact version of a stream at
 * most one won; every conflict names an actual version that did not satisfy the expectation;
 * the global log holds each stream's events in stream order. Returns a description of the first
 * broken invariant, or `undefined`.
 *
 * @category checks
 * @since 0.1.0
 */
export const checkConcurrentAppends = Effect.fnUntraced(function* (plans: ReadonlyArray<PlannedAppend>) {
  const store = yield* EventStore.EventStore
  const streamType = yield* unique("Concurrent")
  const streamIds = yield* Effect.forEach([0, 1, 2, 3, 4], () => unique("s"))
  const withIds = yield* Effect.forEach(plans, (plan) =>
    Effect.map(
      Effect.forEach(Array.from({ length: plan.count }), () => Uuid.makeV7),
      (ids) => ({ plan, ids, streamId: streamIds[plan.stream] as string })
    )
  )
  const outcomes = yield* Effect.forEach(
    withIds,
    ({ plan, ids, streamId }) =>
      store
        .append(
          streamId,
          toExpected(plan),
          ids.map((id, index) => event("Planned", { index }, id)),
          { streamType }
        )
        .pipe(Effect.result),
    { concurrency: "unbounded" }
  )
  const successCount = plans.reduce(
    (sum, plan, index) => sum + (Result.isSuccess(outcomes[index] as Result.Result<unknown, unknown>) ? plan.count : 0),
    0
  )
  const stored = yield* readAllOf(streamType, undefined, successCount)
  const storedById = new Map(stored.map((recorded) => [recorded.eventId, recorded]))
  const winners = new Set<string>()
  for (const [index, outcome] of outcomes.entries()) {
    const { plan, ids, streamId } = withIds[index] as (typeof withIds)[number]
    if (Result.isSuccess(outcome)) {
      const first = outcome.success.nextExpectedVersion - plan.count + 1
      for (const [offset, id] of ids.entries()) {
        const recorded = storedById.get(id)
        if (recorded === undefined) return `append ${index} succeeded but event ${id} is not in the log`
        if (recorded.streamId !== streamId || recorded.version !== first + offset) {
          return `event ${id} is at ${recorded.streamId}@${recorded.version}, expected ${streamId}@${first + offset}`
        }
      }
      if (plan.expected === "Exact") {
        const key = `${plan.stream}@${plan.exactVersion}`
        if (winners.has(key)) return `two appends won expecting ${key}`
        winners.add(key)
        if (first !== plan.exactVersion + 1) return `append expecting ${plan.exactVersion} wrote at ${first}`
      }
    } else {
      const failure = outcome.failure
      if (failure._tag !== "ConcurrencyConflict") return `append ${index} failed with ${failure._tag}`
      if (ExpectedVersion.isSatisfiedBy(toExpected(plan), failure.actual)) {
        return `conflict for ${ExpectedVersion.format(toExpected(plan))} reported actual ${failure.actual}, which satisfies it`
      }
      for (const id of ids) if (storedById.has(id)) return `failed append ${index} left event ${id} behind`
    }
  }
  const successes = outcomes.filter(Result.isSuccess).length
  if (stored.length !== successCount) return `${stored.length} events stored, ${successCount} appended by ${successes}`
  const lastVersion = new Map<string, number>()
  for (const recorded of stored) {
    const previous = lastVersion.get(recorded.streamId) ?? 0
    if (recorded.version !== previous + 1) {
      return `global order has ${recorded.streamId}@${recorded.version} after version ${previous}`
    }
    lastVersion.set(recorded.streamId, recorded.version)
  }
  for (const streamId of streamIds) {
    const version = yield* store.streamVersion(streamId)
    if (version !== (lastVersion.get(streamId) ?? 0)) return `streamVersion(${streamId}) = ${version}`
  }
  return undefined
})

/**
 * Register the conformance suite for a store layer.
 *
 * @category suites
 * @since 0.1.0
 */
export const run = <E>(name: string, storeLayer: Layer.Layer<EventStore.EventStore, E>, options?: Options): void => {
  const timeout = options?.timeout ?? 60_000
  layer(storeLayer, { excludeTestServices: true, timeout: "120 seconds" })(`EventStore conformance: ${name}`, (it) => {
    it.effect(
      "appends to a new stream at versions 1..n and returns the next expected version",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("order")
          const result = yield* store.append(streamId, ExpectedVersion.NoStream, events(3), { streamType: "Order" })
          assert.strictEqual(result.nextExpectedVersion, 3)
          assert.deepStrictEqual(
            result.events.map((recorded) => recorded.version),
            [1, 2, 3]
          )
          assert.strictEqual(result.firstPosition, result.events[0]?.position)
          assert.strictEqual(result.lastPosition, result.events[2]?.position)
          assertPositionsIncrease(result.events)
          const read = yield* readStream(streamId)
          assert.deepStrictEqual(read, result.events)
          assert.strictEqual(yield* store.streamVersion(streamId), 3)
        }),
      timeout
    )

    it.effect(
      "keeps data and metadata exactly, and makes UUID v7 ids when none are given",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("order")
          const data: Schema.Json = {
            text: 'Zürich 東京 🚀 "quoted" \\ back',
            nested: { list: [1, 2.5, -3, null, true, { deep: ["x"] }], empty: {} },
            big: 9007199254740991
          }
          const newEvent: EventEnvelope.NewEvent = {
            type: "Detailed",
            schemaVersion: 3,
            data,
            metadata: {
              correlationId: "corr",
              causationId: "cause",
              occurredAt: "2026-11-27T10:00:00.123Z",
              tenant: "acme",
              tags: ["a", "b"]
            }
          }
          const result = yield* store.append(streamId, ExpectedVersion.Any, [newEvent], { streamType: "Order" })
          const [recorded] = yield* readStream(streamId)
          assert.isDefined(recorded)
          assert.deepStrictEqual(recorded?.data, data)
          assert.deepStrictEqual(recorded?.metadata, newEvent.metadata)
          assert.strictEqual(recorded?.schemaVersion, 3)
          assert.strictEqual(recorded?.type, "Detailed")
          assert.strictEqual(recorded?.streamType, "Order")
          assert.strictEqual(recorded?.eventId, result.events[0]?.eventId)
          assert.match(recorded?.eventId ?? "", /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
          assert.isTrue(Exit.isSuccess(Schema.decodeUnknownExit(Schema.toCodecJson(RecordedEventSchema))(recorded)))
        }),
      timeout
    )

    it.effect(
      "enforces Exact: the right version appends, a wrong one conflicts with the actual version and writes nothing",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("order")
          yield* store.append(streamId, ExpectedVersion.exact(0), events(2), { streamType: "Order" })
          const next = yield* store.append(streamId, ExpectedVersion.exact(2), events(1), { streamType: "Order" })
          assert.strictEqual(next.nextExpectedVersion, 3)
          for (const wrong of [0, 1, 2, 4, 100]) {
            const conflict = yield* Effect.flip(
              store.append(streamId, ExpectedVersion.exact(wrong), events(1), { streamType: "Order" })
            )
            assert.strictEqual(conflict._tag, "ConcurrencyConflict")
            if (conflict._tag === "ConcurrencyConflict") {
              assert.strictEqual(conflict.actual, 3)
              assert.strictEqual(conflict.expected, String(wrong))
              assert.strictEqual(conflict.streamId, streamId)
            }
          }
          assert.strictEqual((yield* readStream(streamId)).length, 3)
          assert.strictEqual(yield* store.streamVersion(streamId), 3)
        }),
      timeout
    )

    it.effect(
      "enforces NoStream, StreamExists and Any",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("order")
          const missing = yield* Effect.flip(
            store.append(streamId, ExpectedVersion.StreamExists, events(1), { streamType: "Order" })
          )
          assert.deepInclude(missing, { _tag: "ConcurrencyConflict", actual: 0, expected: "stream-exists" })
          assert.strictEqual(yield* store.streamVersion(streamId), 0)

          yield* store.append(streamId, ExpectedVersion.NoStream, events(1), { streamType: "Order" })
          const exists = yield* Effect.flip(
            store.append(streamId, ExpectedVersion.NoStream, events(1), { streamType: "Order" })
          )
          assert.deepInclude(exists, { _tag: "ConcurrencyConflict", actual: 1, expected: "no-stream" })

          const afterExists = yield* store.append(streamId, ExpectedVersion.StreamExists, events(2), {
            streamType: "Order"
          })
          assert.strictEqual(afterExists.nextExpectedVersion, 3)
          const afterAny = yield* store.append(streamId, ExpectedVersion.Any, events(1), { streamType: "Order" })
          assert.strictEqual(afterAny.nextExpectedVersion, 4)

          const fresh = yield* unique("order")
          const anyOnFresh = yield* store.append(fresh, ExpectedVersion.Any, events(1), { streamType: "Order" })
          assert.strictEqual(anyOnFresh.nextExpectedVersion, 1)
        }),
      timeout
    )

    it.effect(
      "of many concurrent writers with the same expected version exactly one wins",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          for (const expected of [ExpectedVersion.NoStream, ExpectedVersion.exact(0)]) {
            const streamId = yield* unique("race")
            const outcomes = yield* Effect.forEach(
              Array.from({ length: 20 }, (_, writer) => writer),
              (writer) =>
                store
                  .append(streamId, expected, events(2, `Writer${writer}`), { streamType: "Race" })
                  .pipe(Effect.result),
              { concurrency: "unbounded" }
            )
            const winners = outcomes.filter(Result.isSuccess)
            assert.strictEqual(winners.length, 1, `exactly one winner for ${ExpectedVersion.format(expected)}`)
            for (const outcome of outcomes) {
              if (Result.isFailure(outcome))
                assert.deepInclude(outcome.failure, { _tag: "ConcurrencyConflict", actual: 2 })
            }
            const stored = yield* readStream(streamId)
            assert.deepStrictEqual(
              stored.map((recorded) => recorded.version),
              [1, 2]
            )
            assert.strictEqual(stored[0]?.type, stored[1]?.type, "both events come from the one winner")
          }
        }),
      timeout
    )

    it.effect(
      "writers that reload and retry on conflict all land, with contiguous versions",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("counter")
          const appendWithRetry = (writer: number): Effect.Effect<number, Errors.InfrastructureError> =>
            Effect.flatMap(store.streamVersion(streamId), (version) =>
              store
                .append(streamId, ExpectedVersion.exact(version), [event("Incremented", { writer })], {
                  streamType: "Counter"
                })
                .pipe(
                  Effect.map((result) => result.nextExpectedVersion),
                  Effect.catch((error) =>
                    error._tag === "ConcurrencyConflict"
                      ? Effect.flatMap(Effect.yieldNow, () => appendWithRetry(writer))
                      : Effect.die(error)
                  )
                )
            )
          const landed = yield* Effect.forEach(
            Array.from({ length: 25 }, (_, writer) => writer),
            appendWithRetry,
            { concurrency: "unbounded" }
          )
          assert.deepStrictEqual(
            [...landed].sort((a, b) => a - b),
            Array.from({ length: 25 }, (_, i) => i + 1)
          )
          const stored = yield* readStream(streamId)
          assert.deepStrictEqual(
            stored.map((recorded) => recorded.version),
            Array.from({ length: 25 }, (_, i) => i + 1)
          )
          assert.deepStrictEqual(
            stored.map((recorded) => (recorded.data as { writer: number }).writer).sort((a, b) => a - b),
            Array.from({ length: 25 }, (_, i) => i)
          )
        }),
      timeout
    )

    it.effect(
      "random concurrent appends with random expectations keep every invariant",
      () =>
        Effect.gen(function* () {
          for (const seed of [1, 2, 3, 4, 5]) {
            const [plans] = yield* Arbitrary.sampleEffect(plannedAppends, { count: 1, seed, size: 60 })
            const broken = yield* checkConcurrentAppends(plans ?? [])
            assert.isUndefined(broken, `seed ${seed}: ${broken}`)
          }
        }),
      timeout
    )

    it.effect(
      "an append repeated with the same event ids returns the first result and stores nothing new",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("order")
          const ids = yield* Effect.forEach([1, 2, 3], () => Uuid.makeV7)
          const batch = ids.map((id, index) => event("Placed", { index }, id))
          const first = yield* store.append(streamId, ExpectedVersion.NoStream, batch, { streamType: "Order" })
          // the retry's expectation is stale now; a retry must still be recognised
          const again = yield* store.append(streamId, ExpectedVersion.NoStream, batch, { streamType: "Order" })
          assert.deepStrictEqual(again, first)
          yield* store.append(streamId, ExpectedVersion.exact(3), events(2), { streamType: "Order" })
          const later = yield* store.append(streamId, ExpectedVersion.exact(0), batch, { streamType: "Order" })
          assert.deepStrictEqual(later, first, "a retry after later appends still returns the first result")
          const stored = yield* readStream(streamId)
          assert.strictEqual(stored.length, 5)
          assert.strictEqual(yield* store.streamVersion(streamId), 5)
        }),
      timeout
    )

    it.effect(
      "event ids are uuids whatever their case: an upper-case retry is recognised and found",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("order")
          const id = (yield* Uuid.makeV7).toUpperCase()
          const first = yield* store.append(streamId, ExpectedVersion.NoStream, [event("Placed", {}, id)], {
            streamType: "Order"
          })
          assert.strictEqual(first.events[0]?.eventId, id.toLowerCase())
          const again = yield* store.append(
            streamId,
            ExpectedVersion.NoStream,
            [event("Placed", {}, id.toLowerCase())],
            {
              streamType: "Order"
            }
          )
          assert.deepStrictEqual(again, first)
          assert.isTrue(Option.isSome(yield* store.findEvent(id)))
        }),
      timeout
    )

    it.effect(
      "an event id reused with other content, at another place or partly is DuplicateEventId and writes nothing",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("order")
          const [a, b, c] = yield* Effect.forEach([1, 2, 3], () => Uuid.makeV7)
          yield* store.append(
            streamId,
            ExpectedVersion.NoStream,
            [event("Placed", { n: 1 }, a), event("Placed", { n: 2 }, b)],
            {
              streamType: "Order"
            }
          )
          const attempts: ReadonlyArray<readonly [string, string, ReadonlyArray<EventEnvelope.NewEvent>]> = [
            ["other data", streamId, [event("Placed", { n: 99 }, a), event("Placed", { n: 2 }, b)]],
            ["other type", streamId, [event("Shipped", { n: 1 }, a), event("Placed", { n: 2 }, b)]],
            ["other stream", yield* unique("other"), [event("Placed", { n: 1 }, a), event("Placed", { n: 2 }, b)]],
            ["other order", streamId, [event("Placed", { n: 2 }, b), event("Placed", { n: 1 }, a)]],
            [
              "old and new ids",
              streamId,
              [event("Placed", { n: 1 }, a), event("Placed", { n: 2 }, b), event("New", {}, c)]
            ],
            ["a new id, then an old one", streamId, [event("New", {}, c as string), event("Placed", { n: 1 }, a)]]
          ]
          for (const [label, target, batch] of attempts) {
            const error = yield* Effect.flip(store.append(target, ExpectedVersion.Any, batch, { streamType: "Order" }))
            assert.strictEqual(error._tag, "DuplicateEventId", label)
          }
          // a suffix of the first append is stored exactly there: that is a retry too
          const suffix = yield* store.append(streamId, ExpectedVersion.NoStream, [event("Placed", { n: 2 }, b)], {
            streamType: "Order"
          })
          assert.strictEqual(suffix.nextExpectedVersion, 2)
          assert.strictEqual(yield* store.streamVersion(streamId), 2)
          assert.strictEqual((yield* readStream(streamId)).length, 2)
        }),
      timeout
    )

    it.effect(
      "rejects malformed appends with InvalidEvent and changes nothing",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("order")
          yield* store.append(streamId, ExpectedVersion.NoStream, events(1), { streamType: "Order" })
          const id = yield* Uuid.makeV7
          const bad: ReadonlyArray<readonly [string, string, ReadonlyArray<EventEnvelope.NewEvent>, string]> = [
            ["no events", streamId, [], "Order"],
            ["empty stream id", "", events(1), "Order"],
            ["a control character in the stream id", "a\nb", events(1), "Order"],
            ["a stream id of 201 characters", "x".repeat(201), events(1), "Order"],
            ["a NUL in the data", streamId, [event("Placed", { text: "a\u0000b" })], "Order"],
            ["an empty event type", streamId, [event("")], "Order"],
            ["the same id twice", streamId, [event("A", {}, id), event("B", {}, id)], "Order"],
            ["a schema version of 0", streamId, [{ ...event("A"), schemaVersion: 0 }], "Order"],
            ["a malformed event id", streamId, [event("A", {}, "not-a-uuid")], "Order"],
            ["another stream type", streamId, events(1), "Invoice"],
            ["an empty stream type", streamId, events(1), ""]
          ]
          for (const [label, target, batch, streamType] of bad) {
            const error = yield* Effect.flip(store.append(target, ExpectedVersion.Any, batch, { streamType }))
            assert.strictEqual(error._tag, "InvalidEvent", label)
          }
          const notJson = { type: "A", schemaVersion: 1, data: { n: Number.NaN }, metadata: event("A").metadata }
          const nan = yield* Effect.flip(
            store.append(streamId, ExpectedVersion.Any, [notJson], { streamType: "Order" })
          )
          assert.strictEqual(nan._tag, "InvalidEvent", "NaN is not JSON")
          assert.strictEqual(yield* store.streamVersion(streamId), 1)
          assert.strictEqual((yield* readStream(streamId)).length, 1)
        }),
      timeout
    )

    it.effect(
      "finds a stored event by its id, and nothing for an unknown or malformed id",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("order")
          const result = yield* store.append(streamId, ExpectedVersion.NoStream, events(2), { streamType: "Order" })
          const second = result.events[1] as EventEnvelope.RecordedEvent
          assert.deepStrictEqual(Option.getOrUndefined(yield* store.findEvent(second.eventId)), second)
          assert.isTrue(Option.isNone(yield* store.findEvent(yield* Uuid.makeV7)))
          assert.isTrue(Option.isNone(yield* store.findEvent("not-a-uuid")))
        }),
      timeout
    )

    it.effect(
      "an event over the size limit (1 MiB by default, configurable) is InvalidEvent and writes nothing",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("big")
          const big = (bytes: number) => event("Big", { blob: "x".repeat(bytes) })
          const tooBig = yield* Effect.flip(
            store.append(streamId, ExpectedVersion.Any, [big(1024 * 1024)], { streamType: "Order" })
          )
          assert.strictEqual(tooBig._tag, "InvalidEvent")
          assert.include(tooBig.message, "at most 1048576")
          const fits = yield* store.append(streamId, ExpectedVersion.Any, [big(1024 * 1024 - 200)], {
            streamType: "Order"
          })
          assert.strictEqual(fits.nextExpectedVersion, 1)
          const limited = yield* Effect.flip(
            store
              .append(streamId, ExpectedVersion.Any, [big(2000)], { streamType: "Order" })
              .pipe(Effect.provideService(EventStore.MaxEventBytes, 1000))
          )
          assert.strictEqual(limited._tag, "InvalidEvent")
          assert.strictEqual(yield* store.streamVersion(streamId), 1)
        }),
      timeout
    )

    it.effect(
      "reads a stream forward and backward, from a version, with a max count",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("order")
          yield* store.append(streamId, ExpectedVersion.NoStream, events(10), { streamType: "Order" })
          const versions = (recorded: ReadonlyArray<EventEnvelope.RecordedEvent>) => recorded.map((e) => e.version)
          assert.deepStrictEqual(versions(yield* readStream(streamId)), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
          assert.deepStrictEqual(versions(yield* readStream(streamId, { from: 4, maxCount: 3 })), [4, 5, 6])
          assert.deepStrictEqual(versions(yield* readStream(streamId, { from: 9 })), [9, 10])
          assert.deepStrictEqual(versions(yield* readStream(streamId, { from: 11 })), [])
          assert.deepStrictEqual(
            versions(yield* readStream(streamId, { direction: "backward", maxCount: 3 })),
            [10, 9, 8]
          )
          assert.deepStrictEqual(
            versions(yield* readStream(streamId, { direction: "backward", from: 4 })),
            [4, 3, 2, 1]
          )
          assert.deepStrictEqual(
            versions(yield* readStream(streamId, { direction: "backward", from: 50, maxCount: 2 })),
            [10, 9]
          )
          const missing = yield* Effect.flip(readStream(yield* unique("missing")))
          assert.strictEqual(missing._tag, "StreamNotFound")
          assert.strictEqual(yield* store.streamVersion(yield* unique("missing")), 0)
        }),
      timeout
    )

    it.effect(
      "reads a long stream in pages without losing or repeating an event",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamId = yield* unique("long")
          yield* store.append(streamId, ExpectedVersion.NoStream, events(1200), { streamType: "Long" })
          const stored = yield* readStream(streamId)
          assert.strictEqual(stored.length, 1200)
          assert.isTrue(stored.every((recorded, index) => recorded.version === index + 1))
          const backward = yield* readStream(streamId, { direction: "backward" })
          assert.strictEqual(backward.length, 1200)
          assert.isTrue(backward.every((recorded, index) => recorded.version === 1200 - index))
        }),
      timeout
    )

    it.effect(
      "reads the global log in order, after a position, in small batches, filtered by stream and event type",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const orderType = yield* unique("OrderT")
          const invoiceType = yield* unique("InvoiceT")
          const [o1, o2, i1] = yield* Effect.forEach([1, 2, 3], () => unique("s"))
          yield* store.append(o1 as string, ExpectedVersion.NoStream, [event("Created"), event("Confirmed")], {
            streamType: orderType
          })
          yield* store.append(i1 as string, ExpectedVersion.NoStream, [event("Issued")], { streamType: invoiceType })
          yield* store.append(o2 as string, ExpectedVersion.NoStream, [event("Created")], { streamType: orderType })
          yield* store.append(o1 as string, ExpectedVersion.exact(2), [event("Cancelled")], { streamType: orderType })

          const orders = yield* readAllOf(orderType, { batchSize: 1 }, 4)
          assert.deepStrictEqual(
            orders.map((e) => `${e.streamId === o1 ? "o1" : "o2"}:${e.type}:${e.version}`),
            ["o1:Created:1", "o1:Confirmed:2", "o2:Created:1", "o1:Cancelled:3"]
          )
          assertPositionsIncrease(orders)
          const afterSecond = yield* readAllOf(orderType, { after: orders[1]?.position, batchSize: 2 })
          assert.deepStrictEqual(
            afterSecond.map((e) => e.eventId),
            orders.slice(2).map((e) => e.eventId)
          )
          const created = yield* readAllOf(orderType, { eventTypes: ["Created"] })
          assert.deepStrictEqual(
            created.map((e) => e.streamId),
            [o1, o2]
          )
          const both = yield* readAllVisible({ streamTypes: [orderType, invoiceType], batchSize: 2 }, 5)
          assert.deepStrictEqual(
            both.map((e) => e.type),
            ["Created", "Confirmed", "Issued", "Created", "Cancelled"]
          )
          assertPositionsIncrease(both)
          const afterLast = yield* readAllOf(orderType, { after: orders[3]?.position })
          assert.deepStrictEqual(afterLast, [])
        }),
      timeout
    )

    it.effect(
      "headPosition and lastCommittedPosition: the last event the filter selects, Position.start when none",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const orderType = yield* unique("HeadT")
          const otherType = yield* unique("OtherT")
          const none = { streamTypes: [orderType] }
          assert.strictEqual(yield* store.headPosition(none), Position.start)
          assert.strictEqual(yield* store.lastCommittedPosition(none), Position.start)

          const created = yield* store.append(yield* unique("h"), ExpectedVersion.NoStream, [event("Created")], {
            streamType: orderType
          })
          const confirmed = yield* store.append(yield* unique("h"), ExpectedVersion.NoStream, [event("Confirmed")], {
            streamType: orderType
          })
          const other = yield* store.append(yield* unique("h"), ExpectedVersion.NoStream, [event("Created")], {
            streamType: otherType
          })

          // committed is committed at once; a gap-safe reader may wait for older transactions elsewhere
          assert.strictEqual(yield* store.lastCommittedPosition({ streamTypes: [orderType] }), confirmed.lastPosition)
          const head = yield* store.headPosition({ streamTypes: [orderType] }).pipe(
            Effect.repeat({
              until: (head) => head === confirmed.lastPosition,
              schedule: Schedule.spaced("20 millis").pipe(Schedule.upTo({ duration: "10 seconds" }))
            })
          )
          assert.strictEqual(head, confirmed.lastPosition)
          const createdOnly = { streamTypes: [orderType], eventTypes: ["Created"] }
          assert.strictEqual(yield* store.lastCommittedPosition(createdOnly), created.lastPosition)
          assert.strictEqual(yield* store.headPosition(createdOnly), created.lastPosition)
          const both = { streamTypes: [orderType, otherType] }
          assert.strictEqual(yield* store.lastCommittedPosition(both), other.lastPosition)
          assert.strictEqual(yield* store.lastCommittedPosition({ streamTypes: [] }), Position.start)
          assert.strictEqual(yield* store.headPosition({ eventTypes: [] }), Position.start)
          // unfiltered: at least as far as our last append (other tests append too)
          assert.isAtLeast(Position.compare(yield* store.lastCommittedPosition(), other.lastPosition), 0)
          assert.isAtLeast(Position.compare(yield* store.headPosition(), head), 0)
        }),
      timeout
    )

    it.effect(
      "countAfter counts the committed events after a position, and when the oldest was recorded",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamType = yield* unique("CountT")
          const filter = { streamTypes: [streamType] }
          assert.deepStrictEqual(yield* store.countAfter(Position.start, filter), { events: 0, oldest: Option.none() })

          const before = Date.now()
          const first = yield* store.append(yield* unique("c"), ExpectedVersion.NoStream, [event("A"), event("B")], {
            streamType
          })
          const second = yield* store.append(yield* unique("c"), ExpectedVersion.NoStream, [event("A")], { streamType })
          const after = Date.now()

          const all = yield* store.countAfter(Position.start, filter)
          assert.strictEqual(all.events, 3)
          assert.isTrue(Option.isSome(all.oldest))
          if (Option.isSome(all.oldest)) {
            // the store's clock (a database server's, maybe) may differ a little from ours
            assert.isAtLeast(all.oldest.value.getTime(), before - 5_000)
            assert.isAtMost(all.oldest.value.getTime(), after + 5_000)
          }
          assert.strictEqual((yield* store.countAfter(first.firstPosition, filter)).events, 2)
          assert.strictEqual((yield* store.countAfter(first.lastPosition, filter)).events, 1)
          assert.deepStrictEqual(yield* store.countAfter(second.lastPosition, filter), {
            events: 0,
            oldest: Option.none()
          })
          assert.strictEqual((yield* store.countAfter(Position.start, { ...filter, eventTypes: ["A"] })).events, 2)
          assert.strictEqual((yield* store.countAfter(first.lastPosition, { ...filter, eventTypes: ["B"] })).events, 0)
          assert.strictEqual((yield* store.countAfter(Position.start, { streamTypes: [] })).events, 0)
          // unfiltered: at least ours (other tests append too)
          assert.isAtLeast((yield* store.countAfter(first.firstPosition)).events, 2)
        }),
      timeout
    )

    it.effect(
      "the global log agrees with every stream: positions increase and each stream appears in version order",
      () =>
        Effect.gen(function* () {
          const store = yield* EventStore.EventStore
          const streamType = yield* unique("Mixed")
          const streamIds = yield* Effect.forEach([1, 2, 3], () => unique("m"))
          yield* Effect.forEach(
            Array.from({ length: 30 }, (_, i) => i),
            (i) =>
              Effect.gen(function* () {
                const pick = yield* Random.nextIntBetween(0, 2)
                const streamId = streamIds[pick] as string
                yield* store.append(streamId, ExpectedVersion.Any, [event("Mixed", { i })], { streamType })
              }),
            { concurrency: 4 }
          )
          const log = yield* readAllOf(streamType, { batchSize: 7 }, 30)
          assert.strictEqual(log.length, 30)
          assertPositionsIncrease(log)
          for (const streamId of streamIds) {
            const inLog = log.filter((e) => e.streamId === streamId).map((e) => e.eventId)
            const inStream = (yield* readStream(streamId).pipe(Effect.orElseSucceed(() => []))).map((e) => e.eventId)
            assert.deepStrictEqual(inLog, inStream)
          }
        }),
      timeout
    )
  })
}

const RecordedEventSchema: Schema.Codec<EventEnvelope.RecordedEvent, unknown> = Schema.Struct({
  eventId: Schema.String,
  streamId: Schema.String,
  streamType: Schema.String,
  type: Schema.String,
  schemaVersion: Schema.Int,
  data: Schema.Json,
  metadata: Schema.Json,
  version: Schema.Int,
  position: Position.Position
}) as unknown as Schema.Codec<EventEnvelope.RecordedEvent, unknown>
