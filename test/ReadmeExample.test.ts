// The README's example, kept here so that it compiles and runs. Keep the two in step.
import { assert, it } from "@effect/vitest"
import { Aggregate, CommandBus, Decider, InMemoryEventStore } from "@eventline/core"
import { Effect, Layer, ManagedRuntime, Schema } from "effect"

// 1. The domain: plain data and pure functions
const AccountCommand = Schema.TaggedUnion({
  Open: { accountId: Schema.String },
  Deposit: { accountId: Schema.String, cents: Schema.Int.check(Schema.isGreaterThan(0)) }
})
const AccountEvent = Schema.TaggedUnion({
  Opened: {},
  Deposited: { cents: Schema.Int }
})
class AccountNotOpen extends Schema.TaggedError<AccountNotOpen>()("AccountNotOpen", { accountId: Schema.String }) {}

type State = { readonly open: boolean; readonly balance: number }

const account: Decider.Decider<typeof AccountCommand.Type, typeof AccountEvent.Type, State, AccountNotOpen> = {
  initialState: { open: false, balance: 0 },
  decide: (command, state) => {
    switch (command._tag) {
      case "Open":
        return state.open ? Decider.accept() : Decider.accept(AccountEvent.cases.Opened.make({}))
      case "Deposit":
        return state.open
          ? Decider.accept(AccountEvent.cases.Deposited.make({ cents: command.cents }))
          : Decider.reject(new AccountNotOpen({ accountId: command.accountId }))
    }
  },
  evolve: (state, event) =>
    event._tag === "Opened" ? { ...state, open: true } : { ...state, balance: state.balance + event.cents }
}

const Account = Aggregate.make({
  streamType: "Account",
  decider: account,
  commands: AccountCommand,
  events: AccountEvent,
  schemaVersion: 1,
  streamId: (command) => command.accountId
})

// 2. One layer wires the store and the bus (swap InMemoryEventStore for PostgreSQL or PGlite)
const EventlineLive = CommandBus.layer([CommandBus.fromAggregate(Account)]).pipe(
  Layer.provideMerge(InMemoryEventStore.layer)
)

// 3a. Embedded in an Effect program
const program = Effect.gen(function* () {
  const bus = yield* CommandBus.CommandBus
  yield* bus.dispatch(AccountCommand.cases.Open.make({ accountId: "acc-1" }))
  const result = yield* bus.dispatchUnknown({ _tag: "Deposit", accountId: "acc-1", cents: 250 })
  return result.version // 2
})

it.effect("README: embedded in an Effect program", () =>
  Effect.gen(function* () {
    assert.strictEqual(yield* program, 2)
  }).pipe(Effect.provide(EventlineLive))
)

// 3b. From plain Node code: a ManagedRuntime, promises, dispose() on shutdown
it("README: from plain Node code", async () => {
  const runtime = ManagedRuntime.make(EventlineLive)
  try {
    const version = await runtime.runPromise(program)
    assert.strictEqual(version, 2)
  } finally {
    await runtime.dispose()
  }
})
