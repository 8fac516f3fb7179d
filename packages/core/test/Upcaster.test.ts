import { assert, describe, it } from "@effect/vitest"
import {
  Aggregate,
  CommandHandler,
  Decider,
  type EventEnvelope,
  EventStore,
  ExpectedVersion,
  InMemoryEventStore,
  Position,
  SnapshotStore,
  Upcaster
} from "@eventline/core"
import { Effect, Layer, Option, Result, Schema, SchemaTransformation, Stream } from "effect"

// An account whose Opened event changed twice: v1 { name }, v2 { holder } (renamed), v3 { holder,
// limit } (a new field, 0 for the accounts opened before). Deposited never changed (v1).
const OpenedV1 = Schema.Struct({ name: Schema.String })
const OpenedV2 = Schema.Struct({ holder: Schema.String })
const OpenedV3 = Schema.Struct({ holder: Schema.String, limit: Schema.Int })

const v1ToV2 = OpenedV1.pipe(
  Schema.decodeTo(
    OpenedV2,
    SchemaTransformation.transform({
      decode: ({ name }) => ({ holder: name }),
      encode: ({ holder }) => ({ name: holder })
    })
  )
)
const v2ToV3 = OpenedV2.pipe(
  Schema.decodeTo(
    OpenedV3,
    SchemaTransformation.transform({
      decode: (v2) => ({ ...v2, limit: 0 }),
      encode: ({ holder }) => ({ holder })
    })
  )
)

const AccountEvent = Schema.TaggedUnion({ Opened: OpenedV3.fields, Deposited: { amount: Schema.Int } })
type AccountEvent = typeof AccountEvent.Type
const AccountCommand = Schema.TaggedUnion({
  Open: { accountId: Schema.String, holder: Schema.String, limit: Schema.Int },
  Deposit: { accountId: Schema.String, amount: Schema.Int }
})
type AccountCommand = typeof AccountCommand.Type
const AccountState = Schema.Struct({ holder: Schema.String, limit: Schema.Int, balance: Schema.Int })
type AccountState = typeof AccountState.Type

const decider: Decider.Decider<AccountCommand, AccountEvent, AccountState, never> = {
  initialState: { holder: "", limit: 0, balance: 0 },
  decide: (command) =>
    command._tag === "Open"
      ? Decider.accept(AccountEvent.cases.Opened.make({ holder: command.holder, limit: command.limit }))
      : Decider.accept(AccountEvent.cases.Deposited.make({ amount: command.amount })),
  evolve: (state, event) =>
    event._tag === "Opened"
      ? { ...state, holder: event.holder, limit: event.limit }
      : { ...state, balance: state.balance + event.amount }
}

const Account = Aggregate.make({
  streamType: "Account",
  decider,
  commands: AccountCommand,
  events: AccountEvent,
  schemaVersion: 1,
  upcasters: { Opened: Upcaster.chain([v1ToV2, v2ToV3]) },
  streamId: (command) => command.accountId,
  // the state gained `holder` and `limit` with Opened v3: snapshots of state v1 are rebuilt
  snapshot: { state: AccountState, schemaVersion: 2, every: 2 }
})

const metadata = { correlationId: "upcaster-test", occurredAt: "2026-01-01T00:00:00.000Z" }

const recorded = (type: string, schemaVersion: number, data: Schema.Json): EventEnvelope.RecordedEvent => ({
  eventId: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
  streamId: "a-1",
  streamType: "Account",
  type,
  schemaVersion,
  data,
  metadata,
  version: 1,
  position: Position.make(1n, 1n)
})

const reasonOf = <A>(result: Result.Result<A, { readonly reason: string }>): string =>
  Result.isFailure(result) ? result.failure.reason : "decoded"

/** Appends rows as older code did: the given version and data shape, through the store. */
const seed = (streamId: string, events: ReadonlyArray<readonly [string, number, Schema.Json]>) =>
  EventStore.EventStore.use((store) =>
    store.append(
      streamId,
      ExpectedVersion.NoStream,
      events.map(([type, schemaVersion, data]) => ({ type, schemaVersion, data, metadata })),
      { streamType: "Account" }
    )
  )

describe("Upcaster", () => {
  it("every stored version of an event decodes as the current event", () => {
    const expected = AccountEvent.cases.Opened.make({ holder: "ada", limit: 0 })
    for (const [version, data] of [
      [1, { name: "ada" }],
      [2, { holder: "ada" }],
      [3, { holder: "ada", limit: 0 }]
    ] as const) {
      const decoded = Aggregate.decodeEventResult(Account, recorded("Opened", version, data))
      assert.deepStrictEqual(Result.getOrUndefined(decoded), expected, `Opened v${version}`)
    }
  })

  it("a version newer than the code knows, a gap in the chain or data a step refuses is an InvalidEvent", () => {
    assert.include(
      reasonOf(Aggregate.decodeEventResult(Account, recorded("Opened", 4, { holder: "ada", limit: 0 }))),
      "(Opened v4) cannot be read: Opened v4 is newer than this code knows (v3)"
    )
    assert.include(
      reasonOf(Aggregate.decodeEventResult(Account, recorded("Deposited", 2, { amount: 1 }))),
      "(Deposited v2) is newer than this code knows (v1)"
    )
    const fromV2 = Aggregate.make({ ...Account, upcasters: { Opened: Upcaster.chain([v2ToV3], { from: 2 }) } })
    assert.include(
      reasonOf(Aggregate.decodeEventResult(fromV2, recorded("Opened", 1, { name: "ada" }))),
      "(Opened v1) cannot be read: Opened v1 has no upcaster to v2 (the chain starts at v2)"
    )
    assert.include(
      reasonOf(Aggregate.decodeEventResult(Account, recorded("Opened", 1, { holder: "ada" }))),
      "(Opened v1) cannot be read: Opened v1 does not upcast to v2"
    )
    const failure = Aggregate.decodeEventResult(Account, recorded("Opened", 1, { name: 7 }))
    assert.isTrue(Result.isFailure(failure) && failure.failure._tag === "InvalidEvent")
  })

  it("encoding a step is the downcast", () => {
    assert.deepStrictEqual(Schema.encodeSync(v2ToV3)({ holder: "ada", limit: 5 }), { holder: "ada" })
    assert.deepStrictEqual(Schema.encodeSync(v1ToV2)({ holder: "ada" }), { name: "ada" })
  })

  it.effect("appends write each type's current version; a mixed history loads as if written today", () =>
    Effect.gen(function* () {
      const handle = CommandHandler.make(Account)
      const created = yield* handle(AccountCommand.cases.Open.make({ accountId: "new", holder: "bo", limit: 9 }))
      const deposited = yield* handle(AccountCommand.cases.Deposit.make({ accountId: "new", amount: 5 }))
      assert.deepStrictEqual(
        [...created.events, ...deposited.events].map((event) => [event.type, event.schemaVersion, event.data]),
        [
          ["Opened", 3, { holder: "bo", limit: 9 }],
          ["Deposited", 1, { amount: 5 }]
        ]
      )

      yield* seed("old", [
        ["Opened", 1, { name: "ada" }],
        ["Deposited", 1, { amount: 10 }]
      ])
      yield* handle(AccountCommand.cases.Deposit.make({ accountId: "old", amount: 5 }))
      const loaded = yield* CommandHandler.load(Account, "old")
      assert.deepStrictEqual(loaded.state, { holder: "ada", limit: 0, balance: 15 })
      assert.deepStrictEqual(
        loaded.state,
        Decider.fold(decider, [
          AccountEvent.cases.Opened.make({ holder: "ada", limit: 0 }),
          AccountEvent.cases.Deposited.make({ amount: 10 }),
          AccountEvent.cases.Deposited.make({ amount: 5 })
        ])
      )
      // never rewritten
      const stored = yield* EventStore.EventStore.use((store) => Stream.runCollect(store.readStream("old")))
      assert.deepStrictEqual(
        stored.map((event) => [event.schemaVersion, event.data]),
        [
          [1, { name: "ada" }],
          [1, { amount: 10 }],
          [1, { amount: 5 }]
        ]
      )
    }).pipe(Effect.provide(Layer.mergeAll(InMemoryEventStore.layer, SnapshotStore.layerInMemory)))
  )

  it.effect("a snapshot of an older state version is ignored: the upcast history is replayed and it is rebuilt", () =>
    Effect.gen(function* () {
      const snapshots = yield* SnapshotStore.SnapshotStore
      yield* seed("snap", [
        ["Opened", 1, { name: "cy" }],
        ["Deposited", 1, { amount: 3 }]
      ])
      // what the code before Opened v3 stored: state version 1, another shape
      yield* snapshots.save({
        streamId: "snap",
        streamType: "Account",
        version: 2,
        schemaVersion: 1,
        state: { name: "cy", balance: 3 }
      })
      const loaded = yield* CommandHandler.load(Account, "snap")
      assert.deepStrictEqual(loaded, { state: { holder: "cy", limit: 0, balance: 3 }, version: 2, snapshotVersion: 0 })
      yield* CommandHandler.make(Account)(AccountCommand.cases.Deposit.make({ accountId: "snap", amount: 4 }))
      assert.deepStrictEqual(Option.getOrUndefined(yield* snapshots.load("snap")), {
        streamId: "snap",
        streamType: "Account",
        version: 3,
        schemaVersion: 2,
        state: { holder: "cy", limit: 0, balance: 7 }
      })
      assert.deepStrictEqual((yield* CommandHandler.load(Account, "snap")).snapshotVersion, 3)
    }).pipe(Effect.provide(Layer.mergeAll(InMemoryEventStore.layer, SnapshotStore.layerInMemory)))
  )
})
