/**
 * The currency over HTTP: `POST /orders` takes an optional ISO 4217 `currency` (a body without one,
 * as before 0.3.0, places an order in euros); the order's events show it at OrderCreated v2.
 */
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import { OrderEvents } from "../src/OrdersApi.ts"
import { baseUrl, call, decode, problem, serviceLayer, unique } from "./e2e.ts"

const createdOf = (base: string, orderId: string) =>
  Effect.map(call("GET", `${base}/orders/${orderId}/events`), (reply) => {
    assert.strictEqual(reply.status, 200)
    const [created] = decode(OrderEvents)(reply).events
    if (created === undefined) return assert.fail(`order ${orderId} has no events`)
    return [created.type, created.schemaVersion, (created.data as { currency?: string }).currency]
  })

layer(serviceLayer({ _tag: "Embedded", dataDir: undefined }), { excludeTestServices: true, timeout: "120 seconds" })(
  "POST /orders with a currency",
  (it) => {
    it.effect(
      "a body without a currency is in euros; with one it is kept; a malformed one is a 400",
      () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const items = [{ productId: "book", quantity: 1, price: 1_000 }]
          const [euros, dollars] = [unique("eur"), unique("usd")]
          const asBefore = yield* call("POST", `${base}/orders`, { json: { orderId: euros, customerId: "ada", items } })
          assert.strictEqual(asBefore.status, 201)
          assert.deepStrictEqual(asBefore.body, { orderId: euros, version: 1 })
          const withCurrency = yield* call("POST", `${base}/orders`, {
            json: { orderId: dollars, customerId: "ada", currency: "USD", items }
          })
          assert.strictEqual(withCurrency.status, 201)
          assert.deepStrictEqual(yield* createdOf(base, euros), ["OrderCreated", 2, "EUR"])
          assert.deepStrictEqual(yield* createdOf(base, dollars), ["OrderCreated", 2, "USD"])

          const malformed = yield* call("POST", `${base}/orders`, {
            json: { orderId: unique("bad"), customerId: "ada", currency: "usd", items }
          })
          assert.strictEqual(malformed.status, 400)
          assert.include(JSON.stringify(problem(malformed).errors), "ISO 4217")
        }),
      60_000
    )
  }
)
