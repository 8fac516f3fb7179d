/**
 * Serving routes over Node's HTTP server with the `Pipeline` and a graceful shutdown: when the
 * layer's scope closes (SIGTERM/SIGINT under `NodeRuntime.runMain`), the `Shutdown` signal
 * begins first (readiness turns 503, SSE tails end), then the server stops accepting
 * connections and drains the requests in flight for at most `shutdownTimeout`, and only then
 * are the layers below it (subscriptions, pools) released.
 *
 * Node's own limits (since 0.3.0): request heads of at most `maxHeaderSize` bytes (431), heads
 * within `headersTimeout` and whole requests within the body timeout plus the request timeout
 * (408); Node's refusals of a malformed or oversized request are problem+json like every other.
 *
 * @since 0.1.0
 */
import { createServer, type Server as NodeServer } from "node:http"
import type { Duplex } from "node:stream"
import { NodeHttpServer } from "@effect/platform-node"
import { Duration, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import * as Metrics from "./Metrics.ts"
import * as Pipeline from "./Pipeline.ts"
import * as Problem from "./Problem.ts"
import * as Shutdown from "./Shutdown.ts"

/**
 * @category models
 * @since 0.1.0
 */
export interface Options extends Pipeline.Options {
  /** 0 picks a free port. */
  readonly port: number
  readonly host?: string | undefined
  /** How long requests in flight may take to finish at shutdown. Default: 10 seconds. */
  readonly shutdownTimeout?: Duration.Input | undefined
  /** The largest request head (request line and headers), in bytes. Default: 16 KiB. @since 0.3.0 */
  readonly maxHeaderSize?: number | undefined
  /** How long the request head may take to arrive. Default: 10 seconds. @since 0.3.0 */
  readonly headersTimeout?: Duration.Input | undefined
}

/**
 * @category constants
 * @since 0.3.0
 */
export const defaults = {
  maxHeaderSize: 16 * 1024,
  headersTimeout: Duration.seconds(10)
} as const

interface ClientProblem {
  readonly status: number
  readonly statusText: string
  readonly type: string
  readonly title: string
  readonly detail: string
  /** The `reason` of `http_requests_rejected_total`. */
  readonly reason: string
}

// what Node refuses before any route (by its error code), written as problem+json on the socket
const clientProblems: Record<string, ClientProblem> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    statusText: "Request Header Fields Too Large",
    type: Problem.types.headersTooLarge,
    title: "Request header fields too large",
    detail: "the request line and headers are larger than the server accepts",
    reason: "header_size"
  },
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    statusText: "Request Timeout",
    type: Problem.types.requestTimeout,
    title: "The request did not arrive in time",
    detail: "the request did not arrive within the server's timeout",
    reason: "body_timeout"
  }
}

const malformed: ClientProblem = {
  status: 400,
  statusText: "Bad Request",
  type: Problem.types.validation,
  title: "The request is malformed",
  detail: "the request could not be parsed as HTTP",
  reason: "client_error"
}

/** Node's `http.Server` with the limits, its client errors answered as problem+json. */
const makeNodeServer = (options: Options, onRejection: (reason: string) => void): NodeServer => {
  const headersTimeout = Duration.toMillis(Duration.fromInputUnsafe(options.headersTimeout ?? defaults.headersTimeout))
  const bodyAndResponse =
    Duration.toMillis(Duration.fromInputUnsafe(options.bodyTimeout ?? Pipeline.defaults.bodyTimeout)) +
    Duration.toMillis(Duration.fromInputUnsafe(options.requestTimeout ?? Pipeline.defaults.requestTimeout))
  const server = createServer({
    maxHeaderSize: options.maxHeaderSize ?? defaults.maxHeaderSize,
    headersTimeout,
    // a backstop behind the pipeline's own body timeout (which answers first, as a problem)
    requestTimeout: Math.max(headersTimeout, bodyAndResponse),
    connectionsCheckingInterval: Math.min(1000, headersTimeout)
  })
  server.on("clientError", (error: Error & { code?: string }, socket: Duplex) => {
    if (error.code === "ECONNRESET" || !socket.writable || ("_httpMessage" in socket && socket._httpMessage != null)) {
      socket.destroy()
      return
    }
    const problem = (error.code === undefined ? undefined : clientProblems[error.code]) ?? malformed
    const { status, type, title, detail } = problem
    const body = JSON.stringify({ type, title, status, detail })
    onRejection(problem.reason)
    socket.end(
      `HTTP/1.1 ${status} ${problem.statusText}\r\nContent-Type: ${Problem.contentType}\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n` +
        Object.entries(Pipeline.securityHeaders(""))
          .map(([name, value]) => `${name}: ${value}\r\n`)
          .join("") +
        `\r\n${body}`
    )
  })
  return server
}

/**
 * Serve these routes (HttpApi or HttpRouter layers) with the pipeline.
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <E, R>(routes: Layer.Layer<never, E, R>, options: Options) =>
  Shutdown.layerTrigger.pipe(
    Layer.provide(
      HttpRouter.serve(Layer.provide(routes, Pipeline.layer(options)), { disableLogger: true, disableListenLog: true })
    ),
    Layer.provideMerge(
      Layer.unwrap(
        Effect.map(Effect.context<never>(), (context) =>
          NodeHttpServer.layer(
            // Node's refusals are counted in the metrics of the layer's context
            () => makeNodeServer(options, (reason) => Effect.runForkWith(context)(Metrics.recordRejection(reason))),
            {
              port: options.port,
              ...(options.host === undefined ? {} : { host: options.host }),
              gracefulShutdownTimeout: options.shutdownTimeout ?? "10 seconds"
            }
          )
        )
      )
    ),
    Layer.provideMerge(Shutdown.layer)
  )

/**
 * The port the server listens on (useful with port 0).
 *
 * @category accessors
 * @since 0.1.0
 */
export const port: Effect.Effect<number, never, HttpServer.HttpServer> = Effect.map(HttpServer.HttpServer, (server) =>
  server.address._tag === "UnixPathAddress" ? 0 : server.address.port
)

/**
 * The base URL of the running server, `http://localhost:<port>`.
 *
 * @category accessors
 * @since 0.1.0
 */
export const url: Effect.Effect<string, never, HttpServer.HttpServer> = Effect.map(
  port,
  (listening) => `http://localhost:${listening}`
)
