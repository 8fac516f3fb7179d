/**
 * Serving routes over Node's HTTP server with the `Pipeline` and a graceful shutdown: when the
 * layer's scope closes (SIGTERM/SIGINT under `NodeRuntime.runMain`), the `Shutdown` signal
 * begins first (readiness turns 503, SSE tails end), then the server stops accepting
 * connections and drains the requests in flight for at most `shutdownTimeout`, and only then
 * are the layers below it (subscriptions, pools) released.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { type Duration, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import * as Pipeline from "./Pipeline.ts"
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
      NodeHttpServer.layer(createServer, {
        port: options.port,
        ...(options.host === undefined ? {} : { host: options.host }),
        gracefulShutdownTimeout: options.shutdownTimeout ?? "10 seconds"
      })
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
