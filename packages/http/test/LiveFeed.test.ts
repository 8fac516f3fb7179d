/**
 * The live tail (`GET /events/live`) over real HTTP with many clients: each receives every event
 * exactly once and in log order (clients that start behind catch up, then go live; a client that
 * reconnects with Last-Event-ID resumes after its last event), and the reads of the log per
 * commit do not grow with the number of open tails (one shared reader).
 */
import { assert, layer } from "@effect/vitest"
import { CommitSignal, EventStore, ExpectedVersion, InMemoryEventStore, Position } from "@eventline/core"
import { Effect, Fiber, Layer, References, Schedule, Stream } from "effect"
import { HttpApi, HttpApiBuilder } from "effect/http-api"
import { LiveFeed, Server, Streams } from "../src/index.ts"
import { connect, type SseClient, until } from "./sse.ts"

class Api extends HttpApi.make("live").add(Streams.Group) {}

/** Every call of the store's `readAll` (each is one query of the log on a SQL store). */
const reads = { count: 0 }

const CountingStore = Layer.effect(
  EventStore.EventStore,
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    return EventStore.EventStore.of({
      ...store,
      readAll: (options) =>
        Stream.suspend(() => {
          reads.count++
          return store.readAll(options)
        })
    })
  })
).pipe(Layer.provide(InMemoryEventStore.layer))

// the feed as a service (the handlers take it from context), so that the tests can see its subscribers
const Store = LiveFeed.layer().pipe(Layer.provideMerge(CountingStore), Layer.provideMerge(CommitSignal.layerInProcess))

const TestServer = Server.layer(HttpApiBuilder.layer(Api).pipe(Layer.provide(Streams.layerHandlers(Api))), {
  port: 0,
  host: "127.0.0.1",
  maxSseConnections: 1000
}).pipe(Layer.provideMerge(Store), Layer.provideMerge(Layer.succeed(References.MinimumLogLevel, "Warn")))

let streams = 0

/** Append `count` events, one commit of `perCommit` each, to fresh streams; their positions. */
const append = (count: number, perCommit = 1) =>
  Effect.gen(function* () {
    const store = yield* EventStore.EventStore
    const positions: Array<Position.Position> = []
    for (let i = 0; i < count; i += perCommit) {
      const events = Array.from({ length: Math.min(perCommit, count - i) }, (_, j) => ({
        type: "Happened",
        schemaVersion: 1,
        data: { n: i + j },
        metadata: { correlationId: "live-feed-test", occurredAt: new Date().toISOString() }
      }))
      const result = yield* store.append(`s-${++streams}`, ExpectedVersion.NoStream, events, { streamType: "Thing" })
      positions.push(...result.events.map((event) => event.position))
    }
    return positions
  }).pipe(Effect.orDie)

const everything = Effect.gen(function* () {
  const store = yield* EventStore.EventStore
  const events = yield* Effect.orDie(Stream.runCollect(store.readAll()))
  return events.map((event) => event.position)
})

const idsOf = (client: SseClient) => client.messages.map((message) => message.id)

layer(TestServer, { excludeTestServices: true, timeout: "60 seconds" })("LiveFeed over HTTP", (it) => {
  it.effect("50 clients, live, behind (catch-up then live) and late, each receive every event once, in log order", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const url = `http://127.0.0.1:${port}/events/live`
      const before = yield* append(150, 3)
      const start = (yield* everything)[0] ?? ""
      // 20 from the start (two pages of catch-up), 20 from the middle, while commits go on
      const writer = yield* Effect.forkChild(append(120, 2))
      const early = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) => connect(i < 20 ? url : `${url}?after=${before[60]}`),
        { concurrency: 10 }
      )
      yield* Fiber.join(writer)
      // 10 late clients that start behind while the shared reader runs
      const late = yield* Effect.forEach(
        Array.from({ length: 10 }, () => 0),
        () => connect(`${url}?after=${start}`),
        { concurrency: 10 }
      )
      const more = yield* append(30, 1)
      const log = yield* everything
      assert.strictEqual(log.length, 300)
      assert.strictEqual(log[log.length - 1], more[more.length - 1])
      const expected = (client: number) =>
        client >= 20 && client < 40 ? log.slice(61) : client >= 40 ? log.slice(1) : log
      const clients = [...early, ...late]
      yield* until(() => clients.every((client, i) => client.messages.length >= expected(i).length))
      clients.forEach((client, i) => {
        assert.deepStrictEqual(idsOf(client), expected(i), `client ${i}`)
      })
    }).pipe(Effect.scoped)
  )

  it.effect("a client that reconnects with Last-Event-ID resumes right after its last event", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const url = `http://127.0.0.1:${port}/events/live`
      const head = (yield* everything).at(-1) ?? ""
      const first = yield* append(20, 4)
      const lastSeen = yield* Effect.scoped(
        Effect.gen(function* () {
          const client = yield* connect(`${url}?after=${head}`)
          yield* until(() => client.messages.length >= 12)
          return client.messages[11]?.id ?? ""
        })
      )
      assert.strictEqual(lastSeen, first[11])
      const then = yield* append(10, 1)
      const again = yield* connect(`${url}?after=${head}`, { headers: { "last-event-id": lastSeen } })
      const rest = [...first.slice(12), ...then]
      yield* until(() => again.messages.length >= rest.length)
      const tail = yield* append(3, 1)
      yield* until(() => again.messages.length >= rest.length + 3)
      assert.deepStrictEqual(idsOf(again), [...rest, ...tail])
    }).pipe(Effect.scoped)
  )

  it.effect("the reads of the log per commit do not grow with the number of open tails", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const head = (yield* everything).at(-1) ?? ""
      const clients = yield* Effect.forEach(
        Array.from({ length: 30 }, () => 0),
        () => connect(`http://127.0.0.1:${port}/events/live?after=${head}`),
        { concurrency: 10 }
      )
      // every tail is live once each has received an event committed after it connected
      yield* append(1)
      yield* until(() => clients.every((client) => client.messages.length >= 1))
      const commits = 20
      reads.count = 0
      for (let i = 1; i <= commits; i++) {
        yield* append(1)
        yield* until(() => clients.every((client) => client.messages.length >= i + 1))
      }
      const perCommit = reads.count / commits
      // one shared reader: about one read per commit (plus its polls); one tail per client read 30
      assert.isAtMost(perCommit, 3, `${reads.count} reads for ${commits} commits with ${clients.length} tails`)
    }).pipe(Effect.scoped)
  )

  it.effect("the shared reader stops when the last tail closes and starts again with the next", () =>
    Effect.gen(function* () {
      const port = yield* Server.port
      const feed = yield* LiveFeed.Service
      const url = `http://127.0.0.1:${port}/events/live?after=${(yield* everything).at(-1) ?? ""}`
      const first = yield* Effect.scoped(
        Effect.gen(function* () {
          const clients = yield* Effect.forEach([1, 2, 3], () => connect(url))
          const positions = yield* append(1)
          yield* until(() => clients.every((client) => client.messages.length === 1))
          assert.strictEqual(yield* feed.subscribers, 3)
          assert.deepStrictEqual(idsOf(clients[0] as SseClient), positions)
          return positions
        })
      )
      // the server notices the closed connections
      yield* Effect.sync(() => feed.subscribers).pipe(
        Effect.flatten,
        Effect.repeat({ until: (n) => n === 0, schedule: Schedule.spaced("20 millis") })
      )
      const quiet = yield* append(2)
      const client = yield* connect(url)
      yield* until(() => client.messages.length >= 3)
      const live = yield* append(1)
      yield* until(() => client.messages.length >= 4)
      quiet.push(...live)
      // it catches up on its own, then takes from the restarted reader
      assert.deepStrictEqual(idsOf(client), [...first, ...quiet])
      assert.strictEqual(yield* feed.subscribers, 1)
    }).pipe(Effect.scoped)
  )

  it.effect("a subscriber with a filter receives only the events it asks for", () =>
    Effect.gen(function* () {
      const feed = yield* LiveFeed.Service
      const store = yield* EventStore.EventStore
      const head = (yield* everything).at(-1) ?? Position.start
      const metadata = { correlationId: "live-feed-test", occurredAt: new Date().toISOString() }
      const fiber = yield* feed
        .subscribe(head, { streamTypes: ["Wanted"] })
        .pipe(Stream.take(3), Stream.runCollect, Effect.forkChild)
      for (const streamType of ["Other", "Wanted", "Other", "Wanted", "Wanted"]) {
        yield* Effect.orDie(
          store.append(
            `f-${++streams}`,
            ExpectedVersion.NoStream,
            [{ type: "Filtered", schemaVersion: 1, data: null, metadata }],
            { streamType }
          )
        )
      }
      const received = yield* Fiber.join(fiber)
      assert.deepStrictEqual(
        received.map((event) => event.streamType),
        ["Wanted", "Wanted", "Wanted"]
      )
    })
  )
})
