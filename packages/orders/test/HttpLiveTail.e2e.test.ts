/**
 * The Order service's live tail (`/events/live`) on PostgreSQL with many clients at once (one
 * shared reader of the log, issue 12 §4): clients that connect before, during and after a burst
 * of commands, some from the start of the log and some from a position, each receive every
 * event of the log exactly once, in log order.
 */
import { assert, describe, layer } from "@effect/vitest"
import { Streams } from "@eventline/http"
import { Effect, Fiber, Layer, Redacted, Schedule } from "effect"
import { databaseUrl, postgresAvailable, throwawayDatabase } from "../../postgres/test/utils.ts"
import { baseUrl, call, decode, orderBody, serviceLayer, unique } from "./e2e.ts"

const service = Layer.unwrap(
  Effect.map(throwawayDatabase(databaseUrl ?? "", "h6_live_tail"), (url) =>
    serviceLayer({ _tag: "Postgres", url: Redacted.make(url) })
  )
)

interface Client {
  readonly ids: Array<string>
}

/** An SSE client that records the id of every message (aborted with the scope). */
const open = (url: string) =>
  Effect.gen(function* () {
    const controller = new AbortController()
    yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
    const response = yield* Effect.promise(() => fetch(url, { signal: controller.signal }))
    assert.strictEqual(response.status, 200)
    const body = response.body
    if (body === null) return yield* Effect.die(new Error("no SSE body"))
    const client: Client = { ids: [] }
    const decoder = new TextDecoder()
    let buffer = ""
    const reader = body.getReader()
    const loop = async () => {
      while (true) {
        const chunk = await reader.read()
        if (chunk.done) return
        buffer += decoder.decode(chunk.value, { stream: true })
        const blocks = buffer.split("\n\n")
        buffer = blocks.pop() ?? ""
        for (const block of blocks) {
          const id = block.split("\n").find((line) => line.startsWith("id:"))
          if (id !== undefined) client.ids.push(id.slice(3).trim())
        }
      }
    }
    loop().catch(() => undefined)
    return client
  })

const theLog = (base: string) =>
  Effect.map(call("GET", `${base}/events?limit=1000`), (reply) =>
    decode(Streams.LogPage)(reply).events.map((event) => event.position)
  )

const until = (condition: () => boolean) =>
  Effect.sync(condition).pipe(
    Effect.repeat({ until: (holds) => holds, schedule: Schedule.spaced("30 millis") }),
    Effect.asVoid
  )

describe.skipIf(!postgresAvailable())("HTTP live tail", () => {
  layer(service, { excludeTestServices: true, timeout: "60 seconds" })((it) => {
    it.effect("50 clients before, during and after a burst each receive every event once, in log order", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const url = `${base}/events/live`
        const product = unique("p")
        assert.strictEqual(
          (yield* call("POST", `${base}/inventory/${product}/restock`, { json: { quantity: 1000 } })).status,
          200
        )
        const first = (yield* theLog(base))[0] ?? ""
        const before = yield* Effect.forEach(Array.from({ length: 20 }), () => open(url), { concurrency: 10 })
        const burst = yield* Effect.forkChild(
          Effect.forEach(
            Array.from({ length: 30 }),
            () => call("POST", `${base}/orders`, { json: orderBody(unique("c"), [[product, 1]]) }),
            { concurrency: 4 }
          )
        )
        const during = yield* Effect.forEach(
          Array.from({ length: 20 }),
          (_, i) => open(i % 2 === 0 ? url : `${url}?after=${first}`),
          { concurrency: 5 }
        )
        const created = yield* Fiber.join(burst)
        assert.isTrue(created.every((reply) => reply.status === 201))
        const after = yield* Effect.forEach(Array.from({ length: 10 }), () => open(`${url}?after=${first}`), {
          concurrency: 10
        })
        const log = yield* theLog(base)
        const expected = (client: number) => (client < 20 || (client < 40 && client % 2 === 0) ? log : log.slice(1))
        const clients = [...before, ...during, ...after]
        yield* until(() => clients.every((client, i) => client.ids.length >= expected(i).length))
        clients.forEach((client, i) => {
          // later events (the saga's) may follow: the log as read is a prefix of what each received
          assert.deepStrictEqual(client.ids.slice(0, expected(i).length), expected(i), `client ${i}`)
          assert.isTrue(
            client.ids.every((id, n) => n === 0 || id > (client.ids[n - 1] ?? "")),
            `client ${i}: positions not strictly increasing`
          )
        })
      }).pipe(Effect.scoped)
    )
  })
})
