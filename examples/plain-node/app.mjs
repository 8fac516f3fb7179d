// Eventline from plain Node: JavaScript, promises, a node:http handler. The Effect parts are the
// schemas and one ManagedRuntime; the rest of the app only sees async functions.
//
// EVENTLINE_STORE=pglite keeps the events in PGlite (in memory) instead of the in-memory store.
import assert from "node:assert/strict"
import { once } from "node:events"
import { createServer } from "node:http"
import { Aggregate, CommandBus, Decider, EventStore, InMemoryStore } from "@eventline/core"
import { PgStore } from "@eventline/postgres"
import { Effect, Layer, ManagedRuntime, Schema, Stream } from "effect"

// --- the domain: a bank account, pure ---------------------------------------------------------
const Cents = Schema.Int.check(Schema.isGreaterThan(0))

const AccountCommand = Schema.TaggedUnion({
  OpenAccount: { accountId: Schema.String, owner: Schema.String },
  Deposit: { accountId: Schema.String, cents: Cents },
  Withdraw: { accountId: Schema.String, cents: Cents }
})

const AccountEvent = Schema.TaggedUnion({
  AccountOpened: { owner: Schema.String },
  Deposited: { cents: Schema.Int },
  Withdrawn: { cents: Schema.Int }
})

const rejected = (message) => Decider.reject({ _tag: "AccountRejected", message })

const Account = Aggregate.make({
  streamType: "Account",
  commands: AccountCommand,
  events: AccountEvent,
  schemaVersion: 1,
  streamId: (command) => command.accountId,
  decider: {
    initialState: { open: false, balance: 0 },
    decide: (command, state) => {
      switch (command._tag) {
        case "OpenAccount":
          return state.open ? rejected("already open") : Decider.accept({ _tag: "AccountOpened", owner: command.owner })
        case "Deposit":
          return state.open ? Decider.accept({ _tag: "Deposited", cents: command.cents }) : rejected("not open")
        case "Withdraw":
          if (!state.open) return rejected("not open")
          if (command.cents > state.balance) return rejected(`insufficient funds: the balance is ${state.balance}`)
          return Decider.accept({ _tag: "Withdrawn", cents: command.cents })
      }
    },
    evolve: (state, event) => {
      switch (event._tag) {
        case "AccountOpened":
          return { open: true, balance: 0 }
        case "Deposited":
          return { ...state, balance: state.balance + event.cents }
        case "Withdrawn":
          return { ...state, balance: state.balance - event.cents }
      }
    }
  }
})

// --- one runtime for the process, promise-returning functions over it ------------------------
const store = process.env.EVENTLINE_STORE === "pglite" ? PgStore.layerEmbedded() : InMemoryStore.layer
const runtime = ManagedRuntime.make(
  CommandBus.layer([CommandBus.fromAggregate(Account)]).pipe(Layer.provideMerge(store))
)

/** Decode a command from JSON and run it; rejects with the typed error (its `_tag` says which). */
const dispatch = (input) => runtime.runPromise(CommandBus.CommandBus.use((bus) => bus.dispatchUnknown(input)))

/** An account's state, folded from its events. */
const account = (accountId) =>
  runtime.runPromise(
    EventStore.EventStore.use((events) =>
      events.readStream(accountId).pipe(
        Stream.mapEffect((recorded) => Aggregate.decodeEvent(Account, recorded)),
        Stream.runCollect,
        Effect.map((history) => Decider.fold(Account.decider, history))
      )
    )
  )

// --- the HTTP server: any framework works the same way -----------------------------------------
const statusOf = (error) => {
  switch (error?._tag) {
    case "InvalidCommand":
    case "UnknownCommand":
      return 400
    case "StreamNotFound":
      return 404
    case "DecisionRejected":
    case "ConcurrencyConflict":
      return 409
    default:
      return 500
  }
}

const server = createServer(async (request, response) => {
  const send = (status, body) => {
    response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body))
  }
  try {
    if (request.method === "POST" && request.url === "/commands") {
      let body = ""
      for await (const chunk of request) body += chunk
      const result = await dispatch(JSON.parse(body))
      return send(200, { streamId: result.streamId, version: result.version })
    }
    const match = request.method === "GET" && /^\/accounts\/([\w-]+)$/.exec(request.url ?? "")
    if (match) return send(200, await account(match[1]))
    return send(404, { error: "not found" })
  } catch (error) {
    const status = error instanceof SyntaxError ? 400 : statusOf(error)
    if (status === 500) console.error(error)
    return send(status, { error: error?._tag ?? "Error", message: String(error?.message ?? error) })
  }
})

// --- try it: an ephemeral port, a few requests, then shut down ---------------------------------
server.listen(0, "127.0.0.1")
await once(server, "listening")
const base = `http://127.0.0.1:${server.address().port}`
console.log(
  `store: ${process.env.EVENTLINE_STORE === "pglite" ? "PGlite (in memory)" : "in memory"}; listening on ${base}`
)

const post = async (command) => {
  const response = await fetch(`${base}/commands`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(command)
  })
  const body = await response.json()
  console.log(`POST ${command._tag} -> ${response.status} ${JSON.stringify(body)}`)
  return { status: response.status, body }
}

try {
  assert.equal((await post({ _tag: "OpenAccount", accountId: "acc-1", owner: "Ada" })).status, 200)
  assert.equal((await post({ _tag: "Deposit", accountId: "acc-1", cents: 500 })).status, 200)
  assert.equal((await post({ _tag: "Withdraw", accountId: "acc-1", cents: 200 })).status, 200)
  const refused = await post({ _tag: "Withdraw", accountId: "acc-1", cents: 1000 })
  assert.equal(refused.status, 409)
  assert.equal(refused.body.error, "DecisionRejected")
  const invalid = await post({ _tag: "Deposit", accountId: "acc-1", cents: -5 })
  assert.equal(invalid.status, 400)
  assert.equal(invalid.body.error, "InvalidCommand")

  const response = await fetch(`${base}/accounts/acc-1`)
  const state = await response.json()
  console.log(`GET /accounts/acc-1 -> ${response.status} ${JSON.stringify(state)}`)
  assert.deepEqual(state, { open: true, balance: 300 })
  assert.equal((await fetch(`${base}/accounts/nobody`)).status, 404)
  console.log("done")
} finally {
  server.close()
  await runtime.dispose()
}
