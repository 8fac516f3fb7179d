/**
 * One namespace of stream ids, over real HTTP: every stream the service writes has a category
 * chosen by its aggregate or process manager (`Order-<orderId>`, `Inventory-<productId>`,
 * `Fulfilment-<orderId>`), so no id a client picks can name someone else's stream; one length
 * limit for client ids that every route accepts (documented in the OpenAPI schema); ids with
 * invisible format characters are refused; cursors that decode but name no position are 400s.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, type Layer, Schema } from "effect"
import type { HttpServer } from "effect/http"
import { StockView } from "../src/InventoryApi.ts"
import { OrderView } from "../src/OrderReadModel.ts"
import { OrderEvents } from "../src/OrdersApi.ts"
import { baseUrl, call, decode, eventually, orderBody, problem, serviceLayer, unique } from "./e2e.ts"

const Stream = Schema.Struct({
  events: Schema.Array(Schema.Struct({ streamId: Schema.String, streamType: Schema.String, type: Schema.String }))
})

const checkSuite = <E>(service: Layer.Layer<HttpServer.HttpServer, E>) =>
  layer(service, { excludeTestServices: true, timeout: "120 seconds" })("stream names over HTTP", (it) => {
    it.effect(
      "an order id that names the saga's stream of another order squats nothing: the victim is reserved and fulfilled",
      () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const victim = unique("victim")
          const product = unique("p")
          assert.strictEqual(
            (yield* call("POST", `${base}/inventory/${product}/restock`, { json: { quantity: 5 } })).status,
            200
          )
          // the squatter takes the id of the saga's stream of the victim
          const squatter = yield* call("POST", `${base}/orders`, {
            json: orderBody("mallory", [[product, 1]], `Fulfilment-${victim}`)
          })
          assert.strictEqual(squatter.status, 201, squatter.text)
          assert.strictEqual(
            (yield* call("POST", `${base}/orders`, { json: orderBody("alice", [[product, 2]], victim) })).status,
            201
          )
          assert.strictEqual((yield* call("POST", `${base}/orders/${victim}/confirm`)).status, 200)

          // the saga reserves the victim's stock
          const stock = yield* eventually(
            Effect.map(call("GET", `${base}/inventory/${product}`), decode(StockView)),
            // reserved, then committed by the saga: sold, no longer held as a reservation
            (view) => view.available === 3 && view.reserved === 0
          )
          assert.deepStrictEqual(stock.reservations, {})
          const order = yield* eventually(
            Effect.map(call("GET", `${base}/orders/${victim}?consistent=true`), decode(OrderView)),
            (view) => view.status === "confirmed"
          )
          assert.strictEqual(order.version, 2)

          // the saga's stream is the saga's, the squatter's order is an Order stream of its own
          const saga = decode(Stream)(yield* call("GET", `${base}/streams/Fulfilment-${victim}`))
          assert.isTrue(saga.events.every((event) => event.streamType === "Fulfilment"))
          const squatted = decode(OrderEvents)(yield* call("GET", `${base}/orders/Fulfilment-${victim}/events`))
          assert.deepStrictEqual(
            squatted.events.map((event) => [event.streamId, event.type]),
            [[`Order-Fulfilment-${victim}`, "OrderCreated"]]
          )
        })
    )

    it.effect("an order id equal to a product id is another stream: both exist side by side", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const id = unique("same")
        assert.strictEqual(
          (yield* call("POST", `${base}/inventory/${id}/restock`, { json: { quantity: 3 } })).status,
          200
        )
        const created = yield* call("POST", `${base}/orders`, { json: orderBody("bob", [[id, 1]], id) })
        assert.strictEqual(created.status, 201, created.text)
        const events = decode(OrderEvents)(yield* call("GET", `${base}/orders/${id}/events`))
        assert.strictEqual(events.events[0]?.streamId, `Order-${id}`)
        const stock = decode(StockView)(yield* call("GET", `${base}/inventory/${id}`))
        assert.strictEqual(stock.available + stock.reserved, 3)
      })
    )

    it.effect("ids of 100 characters work on every route; 101 characters are refused with 400", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const product = unique("p").padEnd(100, "p")
        const orderId = unique("o").padEnd(100, "o")
        assert.strictEqual(orderId.length, 100)
        assert.strictEqual(
          (yield* call("POST", `${base}/inventory/${product}/restock`, { json: { quantity: 1 } })).status,
          200
        )
        assert.strictEqual((yield* call("GET", `${base}/inventory/${product}`)).status, 200)
        const created = yield* call("POST", `${base}/orders`, {
          json: orderBody("c".repeat(100), [[product, 1]], orderId)
        })
        assert.strictEqual(created.status, 201, created.text)
        assert.strictEqual((yield* call("POST", `${base}/orders/${orderId}/confirm`)).status, 200)
        // the saga's stream of that order (`Fulfilment-<id>`) fits the store: it reserves the stock
        yield* eventually(
          Effect.map(call("GET", `${base}/inventory/${product}`), decode(StockView)),
          (view) => view.available === 0 && view.reserved === 0
        )
        assert.strictEqual((yield* call("GET", `${base}/orders/${orderId}?consistent=true`)).status, 200)
        assert.strictEqual((yield* call("GET", `${base}/orders/${orderId}/events`)).status, 200)
        const cancelled = yield* call("POST", `${base}/orders/${orderId}/cancel`, { json: { reason: "done" } })
        assert.strictEqual(cancelled.status, 200, cancelled.text)
        yield* eventually(
          Effect.map(call("GET", `${base}/inventory/${product}`), decode(StockView)),
          (view) => view.available === 1 && view.reserved === 0
        )

        const long = "x".repeat(101)
        const refused = [
          yield* call("POST", `${base}/orders`, { json: orderBody("c", [["p", 1]], long) }),
          yield* call("POST", `${base}/orders`, { json: orderBody(long, [["p", 1]]) }),
          yield* call("POST", `${base}/orders`, { json: orderBody("c", [[long, 1]]) })
        ]
        for (const reply of refused) {
          assert.strictEqual(reply.status, 400, reply.text)
          assert.strictEqual(reply.headers.get("content-type"), "application/problem+json")
          assert.include(reply.text, "an id must be at most 100 characters long")
        }
        // in a path, the router takes no longer parameter: a 414 problem naming the limit, nothing written
        const restock = yield* call("POST", `${base}/inventory/${long}/restock`, { json: { quantity: 1 } })
        assert.strictEqual(restock.status, 414, restock.text)
        assert.include(restock.text, "at most 100 characters")
        assert.strictEqual(restock.headers.get("content-type"), "application/problem+json")
      })
    )

    it.effect("the OpenAPI schema documents the id limits of bodies and path parameters", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const spec = (yield* call("GET", `${base}/openapi.json`)).text
        const document = JSON.parse(spec) as {
          paths: Record<string, Record<string, { parameters?: ReadonlyArray<{ name: string; schema: unknown }> }>>
        }
        const resolve = (schema: unknown): Record<string, unknown> => {
          const ref = (schema as { $ref?: string }).$ref
          if (ref === undefined) return schema as Record<string, unknown>
          const path = ref.replace(/^#\//, "").split("/")
          return resolve(path.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], document))
        }
        for (const [path, name] of [
          ["/orders/{orderId}", "orderId"],
          ["/orders/{orderId}/confirm", "orderId"],
          ["/inventory/{productId}/restock", "productId"],
          ["/customers/{customerId}/statistics", "customerId"]
        ] as const) {
          const operation = Object.values(document.paths[path] ?? {})[0]
          const parameter = operation?.parameters?.find((p) => p.name === name)
          assert.isDefined(parameter, `${path} has the parameter ${name}`)
          const schema = resolve(parameter?.schema)
          assert.strictEqual(schema.maxLength, 100, `${path} ${name}: ${JSON.stringify(schema)}`)
          assert.strictEqual(schema.minLength, 1)
          assert.include(String(schema.description), "invisible format characters")
        }
      })
    )

    it.effect("ids with bidirectional overrides or zero-width characters are refused with a message", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        for (const id of ["abc\u202Edef", "ab\u200Bcd", "\uFEFFbom"]) {
          const reply = yield* call("POST", `${base}/orders`, { json: orderBody("c", [["p", 1]], id) })
          assert.strictEqual(reply.status, 400, reply.text)
          assert.include(problem(reply).detail ?? reply.text, "invisible format characters")
          const path = yield* call("POST", `${base}/inventory/${encodeURIComponent(id)}/restock`, {
            json: { quantity: 1 }
          })
          assert.strictEqual(path.status, 400, path.text)
        }
      })
    )

    it.effect("a cursor that decodes but names no position is a 400 problem, not a 500", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")
        for (const cursor of [
          "eyJjcmVhdGVkQXQiOiJ4IiwiaWQiOiJ5In0",
          encode({ createdAt: "2026-11-27T10:00:00.000Z", id: "\u0000" }),
          encode({ createdAt: "2026-02-30T10:00:00.000Z", id: "y" }),
          encode({ createdAt: "2026-11-27T10:00:00.000Z" }),
          encode([1, 2]),
          "not base64 at all!"
        ]) {
          const reply = yield* call("GET", `${base}/orders?cursor=${encodeURIComponent(cursor)}`)
          assert.strictEqual(reply.status, 400, `${cursor}: ${reply.text}`)
          assert.strictEqual(reply.headers.get("content-type"), "application/problem+json")
          assert.include(problem(reply).detail ?? "", "the cursor is not valid")
        }
      })
    )
  })

checkSuite(serviceLayer({ _tag: "Embedded", dataDir: undefined }))
