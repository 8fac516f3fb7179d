/**
 * The embedded bus across restarts, with the real entry point in a child process (no
 * KAFKA_BROKERS): mixed order load over HTTP, kill -9 mid-load, restart, more load, SIGTERM
 * mid-load, restart; once everything has caught up, every customer's statistics (kept by the
 * consumer of `order-events`) equal a count computed from the store's log. On PGlite (a data
 * directory) and on PostgreSQL.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { isDeepStrictEqual } from "node:util"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Schedule, Schema } from "effect"
import { databaseUrl, postgresAvailable, throwawayDatabase } from "../../postgres/test/utils.ts"
import { exitCode, type Service, startService as startChild } from "./childService.ts"
import { call, decode } from "./e2e.ts"

const customers = Array.from({ length: 7 }, (_, index) => `customer-${index}`)

/** The service with `env`, ready only when every subscription and the consumer have caught up. */
const startService = (env: Readonly<Record<string, string>>) =>
  startChild({
    LOG_LEVEL: "Info",
    EVENTLINE_SHUTDOWN_TIMEOUT: "20 seconds",
    EVENTLINE_READY_MAX_LAG: "0",
    ...env
  })

const ok = (status: number) => status >= 200 && status < 300

/**
 * Clients creating orders for seven customers, confirming a third of them (the saga then reserves
 * stock or cancels them, out of stock) and cancelling another third, until the server goes away.
 */
const load = (url: string, phase: string, acknowledged: { count: number }) => {
  const worker = (n: number) =>
    Effect.gen(function* () {
      for (let i = 0; ; i++) {
        const orderId = `${phase}-${n}-${i}`
        const created = yield* Effect.exit(
          call("POST", `${url}/orders`, {
            json: {
              orderId,
              customerId: customers[(n + i) % customers.length],
              items: [{ productId: "widget", quantity: 1 + (i % 3), price: 100 * (1 + (n % 4)) }]
            }
          })
        )
        if (Exit.isFailure(created)) return // the server is gone
        if (!ok(created.value.status)) continue
        acknowledged.count += 1
        const next =
          i % 3 === 0
            ? call("POST", `${url}/orders/${orderId}/confirm`)
            : i % 3 === 1
              ? call("POST", `${url}/orders/${orderId}/cancel`, { json: { reason: "changed my mind" } })
              : Effect.succeed(undefined)
        if (Exit.isFailure(yield* Effect.exit(next))) return
      }
    })
  return Effect.gen(function* () {
    // some stock: some confirmed orders keep it, the later ones are cancelled out of stock
    yield* call("POST", `${url}/inventory/widget/restock`, { json: { quantity: 60 } })
    yield* Effect.all(
      Array.from({ length: 8 }, (_, n) => worker(n)),
      { concurrency: "unbounded", discard: true }
    )
  })
}

/** Run the load until `count` more orders were acknowledged, then send `signal`; wait for the exit. */
const loadThenStop = (service: Service, phase: string, count: number, signal: NodeJS.Signals) =>
  Effect.gen(function* () {
    const acknowledged = { count: 0 }
    const clients = yield* Effect.forkChild(load(service.url, phase, acknowledged))
    yield* Effect.sync(() => acknowledged.count).pipe(
      Effect.repeat({ until: (n) => n >= count, schedule: Schedule.spaced("50 millis") }),
      Effect.timeoutOrElse({
        duration: "60 seconds",
        orElse: () => Effect.die(new Error(`load did not get going:\n${service.output.join("")}`))
      })
    )
    service.child.kill(signal)
    const code = yield* exitCode(service.child).pipe(Effect.timeout("30 seconds"))
    yield* Fiber.join(clients)
    return code
  })

const CustomerStats = Schema.Struct({
  customerId: Schema.String,
  ordersCreated: Schema.Int,
  ordersConfirmed: Schema.Int,
  ordersCancelled: Schema.Int,
  totalAmount: Schema.Int
})
type CustomerStats = typeof CustomerStats.Type

const LogPage = Schema.Struct({
  events: Schema.Array(
    Schema.Struct({ streamId: Schema.String, streamType: Schema.String, type: Schema.String, data: Schema.Unknown })
  ),
  checkpoint: Schema.String,
  hasMore: Schema.Boolean
})
const OrderCreated = Schema.Struct({ customerId: Schema.String, totalAmount: Schema.Int })

/** Every customer's statistics, counted from the store's log (`GET /events`). */
const countFromLog = (url: string) =>
  Effect.gen(function* () {
    const owners = new Map<string, string>()
    const stats = new Map<string, { -readonly [K in keyof CustomerStats]: CustomerStats[K] }>()
    let after: string | undefined
    for (;;) {
      const reply = yield* call("GET", `${url}/events?limit=1000${after === undefined ? "" : `&after=${after}`}`)
      assert.strictEqual(reply.status, 200, reply.text)
      const page = decode(LogPage)(reply)
      for (const event of page.events) {
        if (event.streamType !== "Order") continue
        if (event.type === "OrderCreated") {
          const created = Schema.decodeUnknownSync(OrderCreated)(event.data)
          owners.set(event.streamId, created.customerId)
          const current = stats.get(created.customerId) ?? {
            customerId: created.customerId,
            ordersCreated: 0,
            ordersConfirmed: 0,
            ordersCancelled: 0,
            totalAmount: 0
          }
          current.ordersCreated += 1
          current.totalAmount += created.totalAmount
          stats.set(created.customerId, current)
        }
        const owner = stats.get(owners.get(event.streamId) ?? "")
        if (owner === undefined) continue
        if (event.type === "OrderConfirmed") owner.ordersConfirmed += 1
        if (event.type === "OrderCancelled") owner.ordersCancelled += 1
      }
      after = page.checkpoint
      if (!page.hasMore) break
    }
    return Object.fromEntries([...stats].sort(([a], [b]) => a.localeCompare(b)))
  })

/** Every customer's statistics, as the consumer kept them. */
const statistics = (url: string, customerIds: ReadonlyArray<string>) =>
  Effect.map(
    Effect.forEach(customerIds, (customerId) => call("GET", `${url}/customers/${customerId}/statistics`)),
    (replies) =>
      Object.fromEntries(
        replies.flatMap((reply, index) =>
          reply.status === 200 ? [[customerIds[index], decode(CustomerStats)(reply)] as const] : []
        )
      )
  )

/** Once ready (nothing left to handle anywhere): the counts from the log, and the consumer's. */
const compare = (url: string) =>
  Effect.gen(function* () {
    const ready = yield* call("GET", `${url}/health/ready`)
    if (ready.status !== 200) return Option.none()
    const expected = yield* countFromLog(url)
    const actual = yield* statistics(url, customers)
    return Option.some({ expected, actual })
  })

const scenario = (env: Readonly<Record<string, string>>) =>
  Effect.gen(function* () {
    const first = yield* startService(env)
    yield* loadThenStop(first, "a", 120, "SIGKILL")

    const second = yield* startService(env)
    const code = yield* loadThenStop(second, "b", 120, "SIGTERM")
    assert.strictEqual(code, 0, second.output.join(""))

    const third = yield* startService(env)
    // wait until everything has caught up and the counts agree (the time limit only bounds a failure)
    const settled = yield* compare(third.url).pipe(
      Effect.repeat({
        until: (found) => Option.isSome(found) && isDeepStrictEqual(found.value.actual, found.value.expected),
        schedule: Schedule.spaced("250 millis")
      }),
      Effect.timeoutOption("120 seconds")
    )
    const last = Option.isSome(settled) ? settled.value : yield* compare(third.url)
    assert.isTrue(Option.isSome(last), `never ready:\n${(yield* call("GET", `${third.url}/health/ready`)).text}`)
    if (Option.isNone(last)) return
    assert.strictEqual(Object.keys(last.value.expected).length, customers.length)
    assert.deepStrictEqual(last.value.actual, last.value.expected)
    // readiness and /metrics follow the durable consumer
    const ready = yield* call("GET", `${third.url}/health/ready`)
    assert.deepInclude(ready.body, { status: "ready" })
    assert.include(ready.text, '"consumer:customer-statistics"')
    const metrics = (yield* call("GET", `${third.url}/metrics`)).text
    assert.match(metrics, /eventline_consumer_lag_messages\{[^}]*group="customer-statistics"[^}]*\} 0\b/, metrics)
    third.child.kill("SIGTERM")
    assert.strictEqual(yield* exitCode(third.child).pipe(Effect.timeout("30 seconds")), 0, third.output.join(""))
  }).pipe(Effect.scoped)

describe("the embedded bus across restarts (kill -9, SIGTERM)", () => {
  it.live(
    "PGlite: customer statistics equal the counts from the store's log",
    () =>
      Effect.gen(function* () {
        const dataDir = mkdtempSync(join(tmpdir(), "eventline-restart-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dataDir, { recursive: true, force: true })))
        yield* scenario({ EVENTLINE_DATA_DIR: dataDir })
      }).pipe(Effect.scoped),
    300_000
  )

  describe.runIf(postgresAvailable())("PostgreSQL", () => {
    it.live(
      "PostgreSQL: customer statistics equal the counts from the store's log",
      () =>
        Effect.gen(function* () {
          const url = yield* throwawayDatabase(databaseUrl ?? "", "h1_restart")
          yield* scenario({ DATABASE_URL: url })
        }).pipe(Effect.scoped),
      300_000
    )
  })
})
