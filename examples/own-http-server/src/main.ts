/**
 * The app serves its own HttpApi (Api.ts) with its own server: effect's HttpRouter on Node's
 * http server, on a free port. Eventline's groups come with their handlers as layers; the app
 * writes the handlers of its own groups. Then it calls itself over HTTP and checks the answers
 * (it exits non-zero when one is not what it expects).
 */
import { createServer } from "node:http"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Aggregate, CommandBus, Decider, EventStore, InMemoryStore, Instrumentation } from "@eventline/core"
import { Commands, Health, Metrics, Middleware, Problem, Streams } from "@eventline/http"
import { Console, Effect, Layer, Schema, Stream } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { Account, AccountDecider } from "./Account.ts"
import { AccountUnknown, Api } from "./Api.ts"

// --- the app's own handlers ---------------------------------------------------------------------
const CommandHandlers = HttpApiBuilder.group(Api, "accountCommands", (handlers) =>
  handlers.handle("dispatch", ({ payload }) =>
    // through the CommandBus; rejections, conflicts and invalid commands become problems
    Effect.map(Commands.dispatch(payload), (result) => ({ streamId: result.streamId, version: result.version }))
  )
)

const QueryHandlers = HttpApiBuilder.group(Api, "accountQueries", (handlers) =>
  handlers.handle("get", ({ params }) =>
    Effect.gen(function* () {
      const store = yield* EventStore.EventStore
      const history = yield* store.readStream(params.accountId).pipe(
        Stream.mapEffect((recorded) => Aggregate.decodeEvent(Account, recorded)),
        Stream.runCollect
      )
      const state = Decider.fold(AccountDecider, history)
      return { owner: state.owner ?? "", balance: state.balance }
    }).pipe(
      Effect.catchTag("StreamNotFound", () => Effect.fail(new AccountUnknown({ accountId: params.accountId }))),
      Effect.catchTag(["InfrastructureError", "InvalidEvent"], Effect.die)
    )
  )
)

// --- routes, server, services ---------------------------------------------------------------------
const Routes = HttpApiBuilder.layer(Api).pipe(
  Layer.provide([
    Streams.layerHandlers(Api),
    Health.layerHandlers(Api),
    Metrics.layerHandlers(Api),
    CommandHandlers,
    QueryHandlers
  ]),
  // the middlewares the command group declares
  Layer.provide([Middleware.layerProblems(), Middleware.layerRequestIds])
)

const Server = HttpRouter.serve(Routes, { disableLogger: true, disableListenLog: true }).pipe(
  Layer.provideMerge(NodeHttpServer.layer(createServer, { port: 0, host: "127.0.0.1" }))
)

const Services = Layer.mergeAll(
  // a command bus with metrics and spans
  Instrumentation.layerBus.pipe(Layer.provide(CommandBus.layer([CommandBus.fromAggregate(Account)]))),
  // readiness checks of the app's choosing (none here)
  Health.layer<never>([])
).pipe(Layer.provideMerge(Instrumentation.layerStore), Layer.provideMerge(InMemoryStore.layer))

// --- call it -----------------------------------------------------------------------------------------
class ExpectationFailed extends Schema.TaggedError<ExpectationFailed>()("ExpectationFailed", {
  message: Schema.String
}) {}

const expect = (condition: boolean, message: string) =>
  condition ? Console.log(`  ok: ${message}`) : Effect.fail(new ExpectationFailed({ message }))

const Json = Schema.fromJsonString(Schema.Record(Schema.String, Schema.Json))

const program = Effect.gen(function* () {
  const address = (yield* HttpServer.HttpServer).address
  const base = `http://127.0.0.1:${address._tag === "UnixPathAddress" ? 0 : address.port}`
  yield* Console.log(`listening on ${base}`)
  const call = (method: string, path: string, body?: unknown) =>
    Effect.gen(function* () {
      const response = yield* Effect.promise(() =>
        fetch(`${base}${path}`, {
          method,
          ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "content-type": "application/json" } })
        })
      )
      const text = yield* Effect.promise(() => response.text())
      const contentType = response.headers.get("content-type") ?? ""
      const shown = text.replaceAll("\n", " ").slice(0, 100)
      yield* Console.log(`${method} ${path} -> ${response.status} ${contentType.split(";")[0]} ${shown}`)
      const json = contentType.includes("json") ? yield* Schema.decodeUnknownEffect(Json)(text) : {}
      return { status: response.status, contentType, json, text }
    })

  const opened = yield* call("POST", "/commands", { _tag: "OpenAccount", accountId: "acc-1", owner: "Ada" })
  yield* expect(opened.status === 200 && opened.json.version === 1, "a command through the app's own endpoint")
  yield* call("POST", "/commands", { _tag: "Deposit", accountId: "acc-1", cents: 500 })

  const refused = yield* call("POST", "/commands", { _tag: "Withdraw", accountId: "acc-1", cents: 1000 })
  yield* expect(
    refused.status === 409 &&
      refused.contentType === Problem.contentType &&
      refused.json.rejection === "AccountRejected",
    "a domain rejection is a 409 problem+json naming the rejection"
  )
  const invalid = yield* call("POST", "/commands", { _tag: "Deposit", accountId: "acc-1", cents: -5 })
  yield* expect(
    invalid.status === 400 && invalid.contentType === Problem.contentType,
    "an invalid command is a 400 problem+json"
  )

  const account = yield* call("GET", "/accounts/acc-1")
  yield* expect(account.json.owner === "Ada" && account.json.balance === 500, "the app's own query endpoint")
  const unknown = yield* call("GET", "/accounts/nobody")
  yield* expect(
    unknown.status === 404 && unknown.contentType === "application/json" && unknown.json._tag === "AccountUnknown",
    "the query group keeps the app's own error shape (it did not ask for problem+json)"
  )

  const stream = yield* call("GET", "/streams/acc-1")
  yield* expect(stream.status === 200 && Array.isArray(stream.json.events), "Eventline's streams group")
  const log = yield* call("GET", "/events")
  yield* expect(log.status === 200 && Array.isArray(log.json.events), "Eventline's global log")
  // the SSE tail of the global log: read until the first event, then hang up
  const tail = yield* Effect.promise(async () => {
    const controller = new AbortController()
    const response = await fetch(`${base}/events/live`, { signal: controller.signal })
    const reader = response.body?.getReader()
    let text = ""
    while (reader !== undefined && !text.includes("data:")) {
      const chunk = await reader.read()
      if (chunk.done) break
      text += new TextDecoder().decode(chunk.value)
    }
    controller.abort()
    return { contentType: response.headers.get("content-type"), text }
  })
  yield* Console.log(`GET /events/live -> ${tail.contentType} ${tail.text.replaceAll("\n", " ").slice(0, 100)}`)
  yield* expect(
    tail.contentType === "text/event-stream" && tail.text.includes('"AccountOpened"'),
    "Eventline's SSE tail of the global log"
  )
  const ready = yield* call("GET", "/health/ready")
  yield* expect(ready.status === 200, "Eventline's health group")
  const metrics = yield* call("GET", "/metrics")
  yield* expect(metrics.text.includes("eventline_commands_total"), "Eventline's metrics group")
})

program.pipe(
  Effect.tap(() => Console.log("done")),
  Effect.provide(Server.pipe(Layer.provide(Services))),
  NodeRuntime.runMain
)
