/**
 * Authentication and resource limits of the Order service over real HTTP (issue 12, §4 and the
 * HTTP side of §5): bearer tokens and scopes, idempotency keys per client and never in clear,
 * the lease of a dead request's key, the request, body and header limits, the cap on live
 * streams, CORS, OPTIONS and security headers, and out-of-range log positions.
 */
import { connect } from "node:net"
import { PgClient } from "@effect/sql-pg"
import { assert, describe, it, layer } from "@effect/vitest"
import { type Auth, Idempotency } from "@eventline/http"
import { PgIdempotencyStore } from "@eventline/postgres"
import { Context, Deferred, Duration, Effect, Exit, Fiber, Layer, Redacted, References, Schema, Scope } from "effect"
import { SqlClient } from "effect/sql"
import { inject } from "vitest"
import { throwawayDatabase } from "../../postgres/test/utils.ts"
import * as Layers from "../src/Layers.ts"
import { OrderAccepted } from "../src/OrdersApi.ts"
import { exitCode, spawnService } from "./childService.ts"
import { baseUrl, call, decode, eventually, orderBody, problem, type RequestOptions, unique } from "./e2e.ts"

const databaseUrl = inject("databaseUrl")

const secrets = {
  writer: "writer-secret-0123456789abcdef",
  other: "other-writer-secret-0123456789",
  third: "third-writer-secret-0123456789",
  reader: "reader-secret-0123456789abcdef"
}
const tokens: ReadonlyArray<Auth.Token> = [
  { client: "writer", scope: "write", secret: Redacted.make(secrets.writer) },
  { client: "other", scope: "write", secret: Redacted.make(secrets.other) },
  { client: "third", scope: "write", secret: Redacted.make(secrets.third) },
  { client: "reader", scope: "read", secret: Redacted.make(secrets.reader) }
]
const as = (client: keyof typeof secrets, options?: RequestOptions): RequestOptions => ({
  ...options,
  headers: { ...options?.headers, authorization: `Bearer ${secrets[client]}` }
})

/** The URL of the service's database, for the tests that reach under the API. */
class Database extends Context.Service<Database, { readonly url: string }>()("test/Security/Database") {}

const service = (options: Pick<Layers.Options, "auth" | "limits" | "corsOrigins">) =>
  Layer.unwrap(
    Effect.map(throwawayDatabase(databaseUrl ?? "", "h4_security"), (url) =>
      Layers.layer({
        database: { _tag: "Postgres", url: Redacted.make(url) },
        port: 0,
        host: "127.0.0.1",
        kafkaBrokers: undefined,
        readyMaxLag: 1000,
        shutdownTimeout: Duration.seconds(5),
        ...options
      }).pipe(Layer.merge(Layer.succeed(Database, { url })))
    )
  ).pipe(Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error")))

const onDatabase = <A, E>(effect: Effect.Effect<A, E, SqlClient.SqlClient>) =>
  Effect.flatMap(Database, ({ url }) =>
    Effect.provide(effect, PgClient.layer({ url: Redacted.make(url), maxConnections: 1 }))
  )

const ProblemType = Schema.Struct({ type: Schema.String, status: Schema.Int })
const problemType = (text: string) => Schema.decodeUnknownSync(Schema.fromJsonString(ProblemType))(text)

/** One raw HTTP/1.1 exchange: write `head` (and `body`, if any), keep sending nothing more, read the reply. */
const raw = (port: number, head: string, body = "") =>
  Effect.callback<string>((resume) => {
    const socket = connect(port, "127.0.0.1")
    let reply = ""
    socket.on("connect", () => socket.write(head + body))
    socket.on("data", (chunk) => {
      reply += String(chunk)
    })
    socket.on("close", () => resume(Effect.succeed(reply)))
    socket.on("error", () => resume(Effect.succeed(reply)))
    return Effect.sync(() => socket.destroy())
  }).pipe(
    Effect.timeoutOrElse({ duration: "30 seconds", orElse: () => Effect.die(new Error("no reply in 30 seconds")) })
  )

const portOf = (base: string) => Number(new URL(base).port)

/** An SSE response held open until the scope closes. */
const openStream = (url: string, headers: Record<string, string>) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const controller = new AbortController()
      const response = await fetch(url, {
        headers: { accept: "text/event-stream", ...headers },
        signal: controller.signal
      })
      return { response, controller }
    }),
    ({ controller }) => Effect.sync(() => controller.abort())
  )

describe.skipIf(databaseUrl === undefined)("Order service security", () => {
  layer(
    service({
      auth: { tokens, identityHeader: "X-Forwarded-User" },
      limits: {
        maxSseConnections: 2,
        requestTimeout: Duration.seconds(2),
        bodyTimeout: Duration.seconds(1),
        headersTimeout: Duration.seconds(1)
      },
      corsOrigins: ["https://app.example"]
    }),
    { excludeTestServices: true, timeout: "180 seconds" }
  )("with tokens and tight limits", (it) => {
    it.effect("a request without a valid token is refused 401, a read-only token 403 on a command", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const anonymous = yield* call("GET", `${base}/orders`)
        assert.strictEqual(anonymous.status, 401)
        assert.strictEqual(anonymous.headers.get("content-type"), "application/problem+json")
        assert.strictEqual(anonymous.headers.get("www-authenticate"), 'Bearer realm="eventline"')
        assert.strictEqual(problem(anonymous).type, "urn:eventline:problem:unauthorized")

        const wrong = yield* call("GET", `${base}/orders`, { headers: { authorization: "Bearer not-a-token-at-all" } })
        assert.strictEqual(wrong.status, 401)
        assert.include(wrong.headers.get("www-authenticate") ?? "", 'error="invalid_token"')
        assert.strictEqual(
          (yield* call("GET", `${base}/orders`, { headers: { authorization: "Basic x" } })).status,
          401
        )
        assert.strictEqual((yield* call("GET", `${base}/metrics`)).status, 401)

        const read = yield* call("GET", `${base}/orders`, as("reader"))
        assert.strictEqual(read.status, 200)
        const product = unique("p")
        const forbidden = yield* call(
          "POST",
          `${base}/inventory/${product}/restock`,
          as("reader", { json: { quantity: 1 } })
        )
        assert.strictEqual(forbidden.status, 403)
        assert.strictEqual(problem(forbidden).type, "urn:eventline:problem:forbidden")
        assert.include(forbidden.headers.get("www-authenticate") ?? "", 'error="insufficient_scope"')
        const written = yield* call(
          "POST",
          `${base}/inventory/${product}/restock`,
          as("writer", { json: { quantity: 1 } })
        )
        assert.strictEqual(written.status, 200)

        // the probes stay open
        assert.strictEqual((yield* call("GET", `${base}/health/live`)).status, 200)
      })
    )

    it.effect("idempotency keys belong to their client and never appear in the log", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const key = unique("shared-key")
        const body = orderBody(unique("customer"), [[unique("p"), 1]])
        const first = yield* call(
          "POST",
          `${base}/orders`,
          as("writer", { json: body, headers: { "idempotency-key": key } })
        )
        assert.strictEqual(first.status, 201)

        // the events carry the key's scoped hash, never the key (the same envelopes /events serves)
        const orderId = decode(OrderAccepted)(first).orderId
        const events = yield* call("GET", `${base}/orders/${orderId}/events`, as("reader"))
        assert.strictEqual(events.status, 200)
        assert.notInclude(events.text, key)
        assert.include(events.text, `"idempotencyKeyHash":"${Idempotency.scopedKey("writer", key)}"`)

        // another client with the key read from anywhere: its own request runs, nothing is replayed or refused
        const same = yield* call(
          "POST",
          `${base}/orders`,
          as("other", { json: body, headers: { "idempotency-key": key } })
        )
        assert.strictEqual(same.status, 201)
        assert.isNull(same.headers.get("idempotent-replayed"))
        assert.notStrictEqual(decode(OrderAccepted)(same).orderId, orderId)
        const different = yield* call(
          "POST",
          `${base}/orders`,
          as("third", { json: orderBody(unique("customer"), [[unique("p"), 2]]), headers: { "idempotency-key": key } })
        )
        assert.strictEqual(different.status, 201)

        // the owner still gets its replay
        const replay = yield* call(
          "POST",
          `${base}/orders`,
          as("writer", { json: body, headers: { "idempotency-key": key } })
        )
        assert.strictEqual(replay.headers.get("idempotent-replayed"), "true")
        assert.strictEqual(replay.text, first.text)
      })
    )

    it.effect("behind a proxy, the user it names is believed with its token only, and owns its keys", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const key = unique("proxied-key")
        const body = orderBody(unique("customer"), [[unique("p"), 1]])
        const asUser = (user: string) =>
          as("writer", { json: body, headers: { "idempotency-key": key, "x-forwarded-user": user } })
        const alice = yield* call("POST", `${base}/orders`, asUser("alice@example.com"))
        const bob = yield* call("POST", `${base}/orders`, asUser("bob@example.com"))
        assert.deepStrictEqual([alice.status, bob.status], [201, 201])
        assert.isNull(bob.headers.get("idempotent-replayed"))
        assert.notStrictEqual(decode(OrderAccepted)(bob).orderId, decode(OrderAccepted)(alice).orderId)
        const again = yield* call("POST", `${base}/orders`, asUser("alice@example.com"))
        assert.strictEqual(again.headers.get("idempotent-replayed"), "true")
        const orderId = decode(OrderAccepted)(alice).orderId
        const events = yield* call("GET", `${base}/orders/${orderId}/events`, as("reader"))
        assert.include(events.text, Idempotency.scopedKey("writer/alice@example.com", key))
        // the header alone proves nothing
        const forged = yield* call("GET", `${base}/orders`, { headers: { "x-forwarded-user": "alice@example.com" } })
        assert.strictEqual(forged.status, 401)
      })
    )

    it.effect("a key claimed by a request that died is free once its short lease ends, and the 409 says when", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const key = unique("dead-owner")
        const body = orderBody(unique("customer"), [[unique("p"), 1]])
        const bytes = new TextEncoder().encode(JSON.stringify(body))
        // the claim a process killed mid-request leaves: made with the default lease, never renewed
        yield* onDatabase(
          Effect.scoped(
            Effect.flatMap(PgIdempotencyStore.make(), (store) =>
              store.claim(Idempotency.scopedKey("writer", key), Idempotency.requestHash("POST", "/orders", bytes))
            )
          )
        )
        // another client who learnt the key is not blocked by it
        const stranger = yield* call(
          "POST",
          `${base}/orders`,
          as("other", { json: body, headers: { "idempotency-key": key } })
        )
        assert.strictEqual(stranger.status, 201)
        const refused = yield* call(
          "POST",
          `${base}/orders`,
          as("writer", { json: body, headers: { "idempotency-key": key } })
        )
        assert.strictEqual(refused.status, 409)
        assert.strictEqual(problem(refused).type, "urn:eventline:problem:idempotency-key-in-use")
        const retryAfter = Number(refused.headers.get("retry-after"))
        assert.isAtLeast(retryAfter, 1)
        assert.isAtMost(retryAfter, Duration.toSeconds(PgIdempotencyStore.defaultLease))

        const retried = yield* eventually(
          call("POST", `${base}/orders`, as("writer", { json: body, headers: { "idempotency-key": key } })),
          (reply) => reply.status !== 409,
          "30 seconds"
        )
        assert.strictEqual(retried.status, 201)
      })
    )

    it.effect("a request that cannot finish (a locked table) is answered 503 problem+json, not held", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const locked = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const holder = yield* onDatabase(
          SqlClient.SqlClient.use((sql) =>
            sql.withTransaction(
              sql`LOCK TABLE eventline.order_read_models IN ACCESS EXCLUSIVE MODE`.pipe(
                Effect.andThen(Deferred.succeed(locked, undefined)),
                // released by the test, or at the latest after 40 s so the suite never hangs
                Effect.andThen(Effect.timeoutOption(Deferred.await(release), "40 seconds"))
              )
            )
          )
        ).pipe(Effect.forkChild)
        yield* Deferred.await(locked)
        const reply = yield* call("GET", `${base}/orders`, as("reader"))
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.join(holder)
        assert.strictEqual(reply.status, 503)
        assert.strictEqual(reply.headers.get("content-type"), "application/problem+json")
        assert.strictEqual(problem(reply).type, "urn:eventline:problem:timeout")
        assert.strictEqual(reply.headers.get("retry-after"), "1")
      })
    )

    it.effect("a body that does not arrive in time is refused 408 problem+json, and the connection closed", () =>
      Effect.gen(function* () {
        const port = portOf(yield* baseUrl)
        const reply = yield* raw(
          port,
          `POST /orders HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${secrets.writer}\r\n` +
            "Content-Type: application/json\r\nContent-Length: 200\r\n\r\n",
          '{"customerId":'
        )
        assert.match(reply, /^HTTP\/1\.1 408 /)
        assert.include(reply.toLowerCase(), "content-type: application/problem+json")
        assert.include(reply, "urn:eventline:problem:request-timeout")
      })
    )

    it.effect("request headers that do not arrive in time are refused 408 problem+json", () =>
      Effect.gen(function* () {
        const port = portOf(yield* baseUrl)
        const reply = yield* raw(port, "GET /orders HTTP/1.1\r\nHost: localhost\r\nX-Slow: a")
        assert.match(reply, /^HTTP\/1\.1 408 /)
        const body = reply.slice(reply.indexOf("\r\n\r\n") + 4)
        assert.deepStrictEqual(problemType(body), { type: "urn:eventline:problem:request-timeout", status: 408 })
      })
    )

    it.effect("request headers over the limit are refused 431 problem+json", () =>
      Effect.gen(function* () {
        const port = portOf(yield* baseUrl)
        const reply = yield* raw(
          port,
          `GET /orders HTTP/1.1\r\nHost: localhost\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`
        )
        assert.match(reply, /^HTTP\/1\.1 431 /)
        assert.include(reply.toLowerCase(), "content-type: application/problem+json")
        const body = reply.slice(reply.indexOf("\r\n\r\n") + 4)
        assert.deepStrictEqual(problemType(body), { type: "urn:eventline:problem:headers-too-large", status: 431 })
      })
    )

    it.effect("live streams beyond the cap are refused 503 with Retry-After; closed ones free their place", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const headers = { authorization: `Bearer ${secrets.reader}` }
        // two streams open (each held until its scope closes): the cap
        const [scopeA, scopeB] = [yield* Scope.make(), yield* Scope.make()]
        const first = yield* Scope.provide(openStream(`${base}/events/live`, headers), scopeA)
        const second = yield* Scope.provide(openStream(`${base}/events/live`, headers), scopeB)
        assert.deepStrictEqual([first.response.status, second.response.status], [200, 200])
        const refused = yield* call("GET", `${base}/events/live`, { headers })
        assert.strictEqual(refused.status, 503)
        assert.strictEqual(refused.headers.get("content-type"), "application/problem+json")
        assert.strictEqual(problem(refused).type, "urn:eventline:problem:too-many-streams")
        assert.strictEqual(refused.headers.get("retry-after"), "5")
        const metrics = yield* call("GET", `${base}/metrics`, { headers })
        assert.include(metrics.text, "http_sse_connections")
        assert.include(metrics.text, 'reason="sse_limit"')

        yield* Scope.close(scopeA, Exit.void)
        yield* Scope.close(scopeB, Exit.void)
        // both places are free again: two new streams open
        const reopened = yield* eventually(
          Effect.scoped(
            Effect.all([openStream(`${base}/events/live`, headers), openStream(`${base}/events/live`, headers)]).pipe(
              Effect.map((streams) => streams.map(({ response }) => response.status))
            )
          ),
          (statuses) => statuses.every((status) => status === 200)
        )
        assert.deepStrictEqual(reopened, [200, 200])
      })
    )

    it.effect("CORS preflights are answered for an allowed origin, before authentication", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const preflight = yield* call("OPTIONS", `${base}/orders`, {
          headers: {
            origin: "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type"
          }
        })
        assert.strictEqual(preflight.status, 204)
        assert.strictEqual(preflight.headers.get("access-control-allow-origin"), "https://app.example")
        assert.include(preflight.headers.get("access-control-allow-methods") ?? "", "POST")
        const read = yield* call("GET", `${base}/orders`, as("reader", { headers: { origin: "https://app.example" } }))
        assert.strictEqual(read.headers.get("access-control-allow-origin"), "https://app.example")
        const stranger = yield* call(
          "GET",
          `${base}/orders`,
          as("reader", { headers: { origin: "https://evil.example" } })
        )
        assert.isNull(stranger.headers.get("access-control-allow-origin"))
      })
    )

    it.effect("out-of-range log positions and +json bodies are 400/415 problem+json, not 500", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        for (const after of [
          "00000000000000000000-99999999999999999999",
          "99999999999999999999-00000000000000000000",
          "09223372036854775808-00000000000000000001"
        ]) {
          const page = yield* call("GET", `${base}/events?after=${after}`, as("reader"))
          assert.strictEqual(page.status, 400, after)
          assert.strictEqual(problem(page).type, "urn:eventline:problem:validation")
          const live = yield* call("GET", `${base}/events/live?after=${after}`, as("reader"))
          assert.strictEqual(live.status, 400, after)
          assert.strictEqual(live.headers.get("content-type"), "application/problem+json")
          const resumed = yield* call(
            "GET",
            `${base}/events/live`,
            as("reader", { headers: { "last-event-id": after } })
          )
          assert.strictEqual(resumed.status, 400, after)
        }
        const vendor = yield* call(
          "POST",
          `${base}/orders`,
          as("writer", {
            json: orderBody(unique("customer"), [[unique("p"), 1]]),
            headers: { "content-type": "application/vnd.x+json" }
          })
        )
        assert.strictEqual(vendor.status, 415)
        assert.strictEqual(vendor.headers.get("content-type"), "application/problem+json")
        assert.strictEqual(problem(vendor).type, "urn:eventline:problem:unsupported-media-type")
      })
    )
  })

  layer(service({}), { excludeTestServices: true, timeout: "180 seconds" })("with the defaults", (it) => {
    it.effect("OPTIONS is answered, no CORS headers, security headers on every response", () =>
      Effect.gen(function* () {
        const base = yield* baseUrl
        const options = yield* call("OPTIONS", `${base}/orders`, { headers: { origin: "https://app.example" } })
        assert.strictEqual(options.status, 204)
        assert.include(options.headers.get("allow") ?? "", "POST")
        assert.isNull(options.headers.get("access-control-allow-origin"))
        for (const path of ["/orders", "/no-such-route", "/health/live"]) {
          const reply = yield* call("GET", `${base}${path}`)
          assert.strictEqual(reply.headers.get("x-content-type-options"), "nosniff", path)
          assert.strictEqual(reply.headers.get("referrer-policy"), "no-referrer", path)
          assert.strictEqual(reply.headers.get("content-security-policy"), "default-src 'none'; frame-ancestors 'none'")
          assert.isNull(reply.headers.get("x-powered-by"))
          assert.isNull(reply.headers.get("access-control-allow-origin"))
        }
        const docs = yield* call("GET", `${base}/docs`)
        assert.strictEqual(docs.status, 200)
        assert.isNull(docs.headers.get("content-security-policy"))
        // without tokens (on a loopback address) the API is open
        assert.strictEqual((yield* call("GET", `${base}/orders`)).status, 200)
      })
    )
  })
})

describe("Order service start-up policy", () => {
  it.live("refuses to start open on a non-loopback address, naming the variables", () =>
    Effect.gen(function* () {
      const { child, output } = yield* spawnService({ HOST: "0.0.0.0", EVENTLINE_DATA_DIR: "memory" })
      const code = yield* exitCode(child).pipe(
        Effect.timeoutOrElse({ duration: "60 seconds", orElse: () => Effect.succeed(-1) })
      )
      assert.strictEqual(code, 1, output.join(""))
      assert.include(output.join(""), "EVENTLINE_TOKENS")
      assert.include(output.join(""), "EVENTLINE_AUTH=off")
    })
  )
})
