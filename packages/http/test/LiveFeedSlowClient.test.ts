/**
 * A live-tail client that does not read (over real HTTP): once it is `clientBuffer` events behind
 * the shared reader it is cut, the other clients receive everything meanwhile, and when it
 * reconnects with Last-Event-ID it receives the rest: nothing lost, nothing twice. And the
 * shared reader's keep-alives reach idle tails.
 */
import { assert, layer } from "@effect/vitest"
import { CommitSignal, EventStore, ExpectedVersion, InMemoryEventStore, type Position } from "@eventline/core"
import { Effect, Layer, Metric, References } from "effect"
import { HttpApi, HttpApiBuilder } from "effect/http-api"
import { LiveFeed, Server, Streams } from "../src/index.ts"
import { connect, until } from "./sse.ts"

class Api extends HttpApi.make("live").add(Streams.Group) {}

const TestServer = Server.layer(
  HttpApiBuilder.layer(Api).pipe(
    Layer.provide(
      Streams.layerHandlers(Api, { live: { clientBuffer: 8, heartbeat: "100 millis", pollInterval: "50 millis" } })
    )
  ),
  { port: 0, host: "127.0.0.1" }
).pipe(
  Layer.provideMerge(InMemoryEventStore.layer),
  Layer.provideMerge(CommitSignal.layerInProcess),
  Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Warn"))
)

// large events, so that the socket buffers between the server and a client that does not read fill up
const payload = "x".repeat(200_000)

const append = (i: number) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const result = yield* store.append(
      `big-${i}`,
      ExpectedVersion.NoStream,
      [
        {
          type: "Big",
          schemaVersion: 1,
          data: { i, payload },
          metadata: { correlationId: "slow-client-test", occurredAt: new Date().toISOString() }
        }
      ],
      { streamType: "Big" }
    )
    return result.events.map((event) => event.position)
  }).pipe(Effect.orDie)

layer(TestServer, { excludeTestServices: true, timeout: "60 seconds" })("LiveFeed, a slow client", (it) => {
  it.effect("is cut without holding back the others, and resumes with Last-Event-ID without a loss", () =>
    Effect.gen(function* () {
      const url = `http://127.0.0.1:${yield* Server.port}/events/live`
      const cutBefore = (yield* Metric.value(LiveFeed.overflows)).count
      const slow = yield* connect(url, { paused: true })
      const fast = yield* Effect.forEach([1, 2, 3], () => connect(url))
      // one event at a time, each read by the others before the next (they never fall behind);
      // the others receive everything while the slow one reads nothing
      const log: Array<Position.Position> = []
      for (let i = 0; i < 100; i++) {
        log.push(...(yield* append(i)))
        yield* until(() => fast.every((client) => client.messages.length >= log.length))
      }
      for (const client of fast) {
        assert.deepStrictEqual(
          client.messages.map((message) => message.id),
          log
        )
      }
      assert.isAbove((yield* Metric.value(LiveFeed.overflows)).count, cutBefore)

      // the slow one was given a prefix of the log, then its response ended
      slow.read()
      yield* until(slow.ended)
      const received = slow.messages.map((message) => message.id)
      assert.isBelow(received.length, log.length)
      assert.deepStrictEqual(received, log.slice(0, received.length))

      // it reconnects after the last event it received and gets the rest
      const again = yield* connect(url, { headers: { "last-event-id": received.at(-1) ?? "" } })
      yield* until(() => again.messages.length >= log.length - received.length)
      assert.deepStrictEqual([...received, ...again.messages.map((message) => message.id)], log)
    }).pipe(Effect.scoped)
  )

  it.effect("an idle tail receives keep-alives from the shared reader", () =>
    Effect.gen(function* () {
      const url = `http://127.0.0.1:${yield* Server.port}/events/live`
      const idle = yield* Effect.forEach([1, 2], () => connect(url))
      yield* until(() => idle.every((client) => client.comments() >= 3))
    }).pipe(Effect.scoped)
  )
})
