/**
 * Helpers for the end-to-end suites: the Order service on a random port (PGlite in memory, or a
 * throwaway PostgreSQL database), plain `fetch` calls, an SSE reader, and polling.
 */
import { randomUUID } from "node:crypto"
import { Server as HttpServer } from "@eventline/http"
import { Duration, Effect, Layer, type LogLevel, Redacted, References, Schedule, Schema, Stream } from "effect"
import { throwawayDatabase } from "../../postgres/test/utils.ts"
import type { Database } from "../src/Config.ts"
import * as Layers from "../src/Layers.ts"

/** The base URL of the server under test, e.g. http://127.0.0.1:41235. */
export const baseUrl = Effect.map(HttpServer.port, (port) => `http://127.0.0.1:${port}`)

/** The service on a free port over this database. */
export const serviceLayer = (
  database: Database,
  kafkaBrokers?: ReadonlyArray<string>,
  options?: Pick<Layers.Options, "consistencyTimeout" | "readModel">,
  logLevel: LogLevel.LogLevel = "Warn"
) =>
  Layers.layer({
    database,
    port: 0,
    host: "127.0.0.1",
    kafkaBrokers,
    readyMaxLag: 1000,
    shutdownTimeout: Duration.seconds(5),
    ...options
  }).pipe(
    // tests log at Warn: request logs are Info
    Layer.provide(Layer.succeed(References.MinimumLogLevel, logLevel))
  )

/** The service over a fresh PostgreSQL database, dropped when the layer is released. */
export const serviceOnPostgres = (adminUrl: string) =>
  Layer.unwrap(
    Effect.map(throwawayDatabase(adminUrl, "eventline_e2e"), (url) =>
      serviceLayer({ _tag: "Postgres", url: Redacted.make(url) })
    )
  )

export interface Reply {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly body: unknown
}

/** Decode a reply's body with a schema of the API (fails the test when it does not match). */
export const decode =
  <S extends Schema.Top & { readonly DecodingServices: never }>(schema: S) =>
  (reply: Reply): S["Type"] =>
    Schema.decodeUnknownSync(schema)(reply.body)

/** An RFC 9457 problem as the service renders it. */
export const ProblemBody = Schema.Struct({
  type: Schema.String,
  title: Schema.String,
  status: Schema.Int,
  detail: Schema.optionalKey(Schema.String),
  instance: Schema.String,
  requestId: Schema.String,
  errors: Schema.optionalKey(
    Schema.Array(Schema.Struct({ in: Schema.String, pointer: Schema.String, message: Schema.String }))
  ),
  currentVersion: Schema.optionalKey(Schema.Int),
  rejection: Schema.optionalKey(Schema.String)
})

export const problem = decode(ProblemBody)

export interface RequestOptions {
  readonly json?: unknown
  readonly body?: string | ReadableStream<Uint8Array> | undefined
  readonly headers?: Readonly<Record<string, string>>
}

/** One HTTP call; the body is parsed as JSON when it is JSON. */
export const call = (method: string, url: string, options?: RequestOptions) =>
  Effect.promise(async (): Promise<Reply> => {
    const headers: Record<string, string> = { ...options?.headers }
    let body: RequestInit["body"] = options?.body
    if (options?.json !== undefined) {
      headers["content-type"] ??= "application/json"
      body = JSON.stringify(options.json)
    }
    const init: RequestInit & { duplex?: "half" } = body === undefined ? { method, headers } : { method, headers, body }
    if (body instanceof ReadableStream) init.duplex = "half"
    const response = await fetch(url, init)
    const text = await response.text()
    const type = response.headers.get("content-type") ?? ""
    return {
      status: response.status,
      headers: response.headers,
      text,
      body: type.includes("json") && text !== "" ? JSON.parse(text) : text
    }
  })

/** Poll until `until` holds (every 50 ms, at most `within`). */
export const eventually = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  until: (a: A) => boolean,
  within: Duration.Input = "15 seconds"
) =>
  effect.pipe(
    Effect.repeat({ until, schedule: Schedule.spaced("50 millis") }),
    Effect.timeoutOrElse({ duration: within, orElse: () => Effect.die(new Error("condition not reached in time")) })
  )

export interface SseMessage {
  readonly id: string | undefined
  readonly data: string
}

interface SseState {
  readonly id: string | undefined
  readonly data: ReadonlyArray<string>
}

/** Read the first `count` messages (that pass `keep`) of an SSE endpoint, then disconnect. */
export const readSse = (
  url: string,
  count: number,
  options?: { readonly headers?: Readonly<Record<string, string>>; readonly keep?: (message: SseMessage) => boolean }
) =>
  Effect.gen(function* () {
    const controller = new AbortController()
    yield* Effect.addFinalizer(() => Effect.sync(() => controller.abort()))
    const response = yield* Effect.promise(() =>
      fetch(url, { headers: { accept: "text/event-stream", ...options?.headers }, signal: controller.signal })
    )
    const stream = response.body
    if (stream === null) return yield* Effect.die(new Error("no SSE body"))
    return yield* Stream.fromReadableStream({ evaluate: () => stream, onError: (error) => error }).pipe(
      Stream.decodeText,
      Stream.splitLines,
      Stream.mapAccum(
        (): SseState => ({ id: undefined, data: [] }),
        (state: SseState, line: string): readonly [SseState, ReadonlyArray<SseMessage>] => {
          if (line === "") {
            return state.data.length === 0
              ? [{ id: state.id, data: [] }, []]
              : [{ id: state.id, data: [] }, [{ id: state.id, data: state.data.join("\n") }]]
          }
          if (line.startsWith("id:")) return [{ ...state, id: line.slice(3).trim() }, []]
          if (line.startsWith("data:")) return [{ ...state, data: [...state.data, line.slice(5).trimStart()] }, []]
          return [state, []]
        }
      ),
      Stream.filter((message) => options?.keep?.(message) ?? true),
      Stream.take(count),
      Stream.runCollect,
      Effect.timeoutOrElse({
        duration: "20 seconds",
        orElse: () => Effect.die(new Error("SSE messages did not arrive"))
      }),
      Effect.orDie
    )
  }).pipe(Effect.scoped)

/** An order body. */
export const orderBody = (
  customerId: string,
  items: ReadonlyArray<readonly [productId: string, quantity: number]>,
  orderId?: string
) => ({
  ...(orderId === undefined ? {} : { orderId }),
  customerId,
  items: items.map(([productId, quantity]) => ({ productId, quantity, price: 250 }))
})

/** A unique suffix for ids in one test run. */
export const unique = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`
