/**
 * The baselines of the HTTP benchmark (scripts/bench/http.ts), in a child process of their own
 * so that they do not share an event loop with the load generator:
 *
 * - on `PORT`, a bare effect/http server (HttpRouter + NodeHttpServer, no Eventline pipeline,
 *   router logger off): `GET /constant` answers `{"ok":true}`, `POST /orders` decodes the body
 *   with the Order service's own `CreateOrderBody` schema and answers 201 with a constant-sized
 *   JSON, touching no database;
 * - on `NODE_PORT`, a plain node:http server that answers `GET /constant` with the same bytes:
 *   the ceiling of this box and load generator, below any framework.
 *
 * Both listen on 127.0.0.1; SIGTERM/SIGINT close them.
 */
import { createServer, type Server } from "node:http"
import { NodeHttpServer, NodeRuntime } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { CreateOrderBody } from "../../packages/orders/src/OrdersApi.ts"

const port = Number(process.env.PORT ?? "0")
const nodePort = Number(process.env.NODE_PORT ?? "0")

const constant = '{"ok":true}'

const createOrder = Effect.gen(function* () {
  const body = yield* HttpServerRequest.schemaBodyJson(CreateOrderBody)
  return yield* HttpServerResponse.json({ orderId: body.orderId ?? "generated", version: 1 }, { status: 201 })
}).pipe(
  Effect.catchTag("SchemaError", (error) => HttpServerResponse.json({ error: error.message }, { status: 400 })),
  Effect.catchTag("HttpServerError", () => HttpServerResponse.json({ error: "unreadable body" }, { status: 400 }))
)

const Routes = Layer.mergeAll(
  HttpRouter.add("GET", "/constant", HttpServerResponse.json({ ok: true })),
  HttpRouter.add("POST", "/orders", createOrder)
)

const EffectServer = HttpRouter.serve(Routes, { disableLogger: true, disableListenLog: true }).pipe(
  Layer.provide(NodeHttpServer.layer(createServer, { port, host: "127.0.0.1" }))
)

const listening = (server: Server) =>
  Effect.callback<void>((resume) => {
    server.listen(nodePort, "127.0.0.1", () => resume(Effect.void))
  })

const closing = (server: Server) =>
  Effect.callback<void>((resume) => {
    server.close(() => resume(Effect.void))
    server.closeAllConnections()
  })

const NodeServer = Layer.effectDiscard(
  Effect.acquireRelease(
    Effect.sync(() =>
      createServer((request, response) => {
        request.resume()
        response.writeHead(200, { "content-type": "application/json", "content-length": constant.length })
        response.end(constant)
      })
    ).pipe(Effect.tap(listening)),
    closing
  )
)

NodeRuntime.runMain(Layer.launch(Layer.mergeAll(EffectServer, NodeServer)))
