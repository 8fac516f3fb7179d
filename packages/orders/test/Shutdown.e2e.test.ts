/**
 * Shutdown under load, with the real entry point in a child process: SIGTERM while clients keep
 * creating orders and an SSE client is connected; the process drains, exits 0 promptly, and
 * after a restart on the same data directory every order that was answered with 2xx exists.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Effect, Exit, Fiber, Schedule } from "effect"
import { exitCode, startService as startChild } from "./childService.ts"
import { call, orderBody } from "./e2e.ts"

/** The service over `dataDir`, logging at Info (the test reads its drain messages). */
const startService = (dataDir: string) =>
  startChild({ EVENTLINE_DATA_DIR: dataDir, LOG_LEVEL: "Info", EVENTLINE_SHUTDOWN_TIMEOUT: "20 seconds" }, "60 seconds")

describe("Order service shutdown", () => {
  it.live(
    "SIGTERM under load: exits 0 promptly, with an SSE client connected; every 2xx-acknowledged order survives a restart",
    () =>
      Effect.gen(function* () {
        const dataDir = mkdtempSync(join(tmpdir(), "eventline-shutdown-"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dataDir, { recursive: true, force: true })))

        const first = yield* startService(dataDir)
        const acknowledged: Array<string> = []
        let stopped = false
        const worker = (n: number) =>
          Effect.gen(function* () {
            for (let i = 0; !stopped; i++) {
              const orderId = `load-${n}-${i}`
              const reply = yield* Effect.exit(
                call("POST", `${first.url}/orders`, { json: orderBody("load", [["load-p", 1]], orderId) })
              )
              if (Exit.isFailure(reply)) return // the server is gone
              if (reply.value.status >= 200 && reply.value.status < 300) acknowledged.push(orderId)
            }
          })
        const workers = yield* Effect.forkChild(
          Effect.all(
            Array.from({ length: 16 }, (_, n) => worker(n)),
            { concurrency: "unbounded" }
          )
        )
        // an SSE client that never disconnects by itself
        const sse = yield* Effect.forkChild(
          Effect.promise(async () => {
            const response = await fetch(`${first.url}/events/live`)
            const reader = response.body?.getReader()
            while (reader !== undefined && !(await reader.read()).done) {
              // keep reading until the server ends the stream
            }
            return "ended"
          }).pipe(Effect.exit)
        )
        yield* Effect.repeat(
          Effect.sync(() => acknowledged.length),
          {
            until: (count) => count >= 50,
            schedule: Schedule.spaced("50 millis")
          }
        ).pipe(Effect.timeout("30 seconds"))

        const signalledAt = yield* Clock.currentTimeMillis
        first.child.kill("SIGTERM")
        const code = yield* exitCode(first.child).pipe(Effect.timeout("20 seconds"))
        const tookMillis = (yield* Clock.currentTimeMillis) - signalledAt
        stopped = true
        yield* Fiber.join(workers)
        yield* Fiber.join(sse)
        assert.strictEqual(code, 0, first.output.join(""))
        assert.isBelow(tookMillis, 10_000, "the SSE tail must not hold the shutdown up to its deadline")
        assert.isAtLeast(acknowledged.length, 50)

        // the same data directory: every acknowledged order is there, in the store and the read model
        const second = yield* startService(dataDir)
        const missing: Array<string> = []
        yield* Effect.forEach(
          acknowledged,
          (orderId) =>
            Effect.gen(function* () {
              const events = yield* call("GET", `${second.url}/orders/${orderId}/events`)
              const view = yield* call("GET", `${second.url}/orders/${orderId}?consistent=true`)
              if (events.status !== 200 || view.status !== 200) missing.push(orderId)
            }),
          { concurrency: 8, discard: true }
        )
        assert.deepStrictEqual(missing, [], `${missing.length} of ${acknowledged.length} acknowledged orders were lost`)
        second.child.kill("SIGINT")
        assert.strictEqual(yield* exitCode(second.child).pipe(Effect.timeout("20 seconds")), 0, second.output.join(""))
      }).pipe(Effect.scoped),
    90_000
  )
})
