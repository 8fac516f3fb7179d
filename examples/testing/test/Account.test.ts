/**
 * The app's own tests of its decider with Eventline's test kit: given/when/then specs, property
 * laws over generated commands and events, and the store contracts its code relies on.
 */
import { assert, describe, it } from "@effect/vitest"
import { Decider, InMemoryEventStore, InMemoryStore } from "@eventline/core"
import { DeciderSpec, EventStoreConformance, SubscriptionConformance } from "@eventline/testing"
import { Arbitrary, Result, Schema } from "effect"
import { AccountCommand, AccountDecider, AccountEvent, AccountRejected } from "../src/Account.ts"

const { AccountOpened, Deposited, Withdrawn } = AccountEvent.cases
const { OpenAccount, Deposit, Withdraw } = AccountCommand.cases

// --- given / when / then ---------------------------------------------------------------------------
describe("Account", () => {
  const account = DeciderSpec.forDecider(AccountDecider)

  it("opens an account", () =>
    account
      .given([])
      .when(OpenAccount.make({ accountId: "a", owner: "Ada" }))
      .then([AccountOpened.make({ owner: "Ada" })]))

  it("withdraws what the balance covers", () =>
    account
      .given([AccountOpened.make({ owner: "Ada" }), Deposited.make({ cents: 500 })])
      .when(Withdraw.make({ accountId: "a", cents: 500 }))
      .then([Withdrawn.make({ cents: 500 })]))

  it("refuses to overdraw", () =>
    account
      .given([AccountOpened.make({ owner: "Ada" }), Deposited.make({ cents: 100 })])
      .when(Withdraw.make({ accountId: "a", cents: 150 }))
      .thenRejects(new AccountRejected({ reason: "insufficient funds: the balance is 100" })))

  it("refuses deposits before the account is open", () =>
    account
      .given([])
      .when(Deposit.make({ accountId: "a", cents: 1 }))
      .thenRejects((rejection) => rejection.reason === "not open"))
})

// --- property laws ----------------------------------------------------------------------------------
// commands on one account, amounts from the schema's own bounds (small, so withdrawals often fail)
const Amount = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 1_000 }))
const commands = Arbitrary.array(
  Arbitrary.schema(
    Schema.TaggedUnion({
      OpenAccount: { accountId: Schema.Literal("a"), owner: Schema.Literals(["Ada", "Grace"]) },
      Deposit: { accountId: Schema.Literal("a"), cents: Amount },
      Withdraw: { accountId: Schema.Literal("a"), cents: Amount }
    })
  ),
  { maxLength: 40 }
)
const splitPoint = Arbitrary.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 })))

/** Run the commands through the decider; the events it decided. */
const decided = (sequence: ReadonlyArray<AccountCommand>) => {
  let state = AccountDecider.initialState
  const events: Array<AccountEvent> = []
  for (const command of sequence) {
    const decision = AccountDecider.decide(command, state, { now: "2026-01-01T00:00:00.000Z" })
    if (Result.isFailure(decision)) continue
    events.push(...decision.success)
    state = Decider.fold(AccountDecider, decision.success, state)
  }
  return events
}

describe("Account laws", () => {
  it.prop(
    "fold(suffix, fold(prefix)) = fold(all): a snapshot plus its tail is the full replay",
    [commands, splitPoint],
    ([sequence, split]) => {
      const events = decided(sequence)
      const k = split % (events.length + 1)
      const all = Decider.fold(AccountDecider, events)
      const resumed = Decider.fold(AccountDecider, events.slice(k), Decider.fold(AccountDecider, events.slice(0, k)))
      assert.deepStrictEqual(resumed, all)
    },
    { arbitrary: { runs: 200, size: 40 } }
  )

  it.prop(
    "whatever the commands, the balance never goes below zero",
    [commands],
    ([sequence]) => {
      let state = AccountDecider.initialState
      for (const event of decided(sequence)) {
        state = AccountDecider.evolve(state, event)
        assert.isAtLeast(state.balance, 0)
      }
    },
    { arbitrary: { runs: 200, size: 40 } }
  )
})

// --- the store contracts, on the store the tests use ----------------------------------------------
EventStoreConformance.run("in-memory", InMemoryEventStore.layer)
SubscriptionConformance.run("in-memory", InMemoryStore.layer)
