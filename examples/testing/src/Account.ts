/**
 * The domain: a bank account. Pure; Eventline stores it.
 */
import { Aggregate, Decider } from "@eventline/core"
import { Schema } from "effect"

const Cents = Schema.Int.check(Schema.isGreaterThan(0))

export const AccountCommand = Schema.TaggedUnion({
  OpenAccount: { accountId: Schema.String, owner: Schema.String },
  Deposit: { accountId: Schema.String, cents: Cents },
  Withdraw: { accountId: Schema.String, cents: Cents }
})
export type AccountCommand = typeof AccountCommand.Type

export const AccountEvent = Schema.TaggedUnion({
  AccountOpened: { owner: Schema.String },
  Deposited: { cents: Schema.Int },
  Withdrawn: { cents: Schema.Int }
})
export type AccountEvent = typeof AccountEvent.Type

export interface AccountState {
  readonly owner: string | undefined
  readonly balance: number
}

export class AccountRejected extends Schema.TaggedError<AccountRejected>()("AccountRejected", {
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

const reject = (reason: string) => Decider.reject(new AccountRejected({ reason }))

export const AccountDecider: Decider.Decider<AccountCommand, AccountEvent, AccountState, AccountRejected> = {
  initialState: { owner: undefined, balance: 0 },
  decide: (command, state) => {
    switch (command._tag) {
      case "OpenAccount":
        return state.owner === undefined
          ? Decider.accept(AccountEvent.cases.AccountOpened.make({ owner: command.owner }))
          : reject("already open")
      case "Deposit":
        return state.owner === undefined
          ? reject("not open")
          : Decider.accept(AccountEvent.cases.Deposited.make({ cents: command.cents }))
      case "Withdraw":
        if (state.owner === undefined) return reject("not open")
        if (command.cents > state.balance) return reject(`insufficient funds: the balance is ${state.balance}`)
        return Decider.accept(AccountEvent.cases.Withdrawn.make({ cents: command.cents }))
    }
  },
  evolve: (state, event) => {
    switch (event._tag) {
      case "AccountOpened":
        return { owner: event.owner, balance: 0 }
      case "Deposited":
        return { ...state, balance: state.balance + event.cents }
      case "Withdrawn":
        return { ...state, balance: state.balance - event.cents }
    }
  }
}

export const Account = Aggregate.make({
  streamType: "Account",
  decider: AccountDecider,
  commands: AccountCommand,
  events: AccountEvent,
  schemaVersion: 1,
  streamId: (command) => command.accountId
})
