/**
 * The entry point of the Order service (`npm start`): reads the configuration from the
 * environment, starts the service and logs its URL; SIGTERM or SIGINT shut it down gracefully
 * and exit 0. An invalid configuration stops it with a message naming the variable (exit 1).
 *
 * Authentication (since 0.3.0): with tokens (`EVENTLINE_TOKENS`, `EVENTLINE_TOKENS_FILE`) every
 * API call needs one. Without, the service serves open only on a loopback `HOST` (the default,
 * 127.0.0.1: reachable from this machine only), with one warning; on any other address it
 * refuses to start unless `EVENTLINE_AUTH=off` says that is intended (e.g. behind a proxy that
 * authenticates).
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { NodeRuntime } from "@effect/platform-node"
import { Auth, Server as HttpServer, Logging } from "@eventline/http"
import { Cause, Effect, Exit, Layer, Redacted, Runtime, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { Otlp, OtlpSerialization } from "effect/observability"
import { type Authentication, config } from "./Config.ts"
import * as Layers from "./Layers.ts"

class InvalidConfiguration extends Schema.TaggedError<InvalidConfiguration>()("InvalidConfiguration", {
  message: Schema.String
}) {
  override readonly [Runtime.errorReported] = false
}

/** Traces, metrics and logs over OTLP/HTTP (JSON) to the collector at `baseUrl` (`/v1/traces`, ...). */
const otlpLayer = (baseUrl: string) =>
  Otlp.layer({
    baseUrl,
    resource: { serviceName: "eventline-orders", serviceVersion: "0.1.0" },
    loggerMergeWithExisting: true
  }).pipe(Layer.provide(OtlpSerialization.layerJson), Layer.provide(FetchHttpClient.layer))

/** The tokens of `EVENTLINE_TOKENS` and `EVENTLINE_TOKENS_FILE`, checked. */
const readTokens = (authentication: Authentication) =>
  Effect.gen(function* () {
    const file = authentication.tokensFile
    const fromFile =
      file === undefined
        ? ""
        : yield* Effect.try({
            try: () => readFileSync(file, "utf8"),
            catch: (cause) =>
              new InvalidConfiguration({
                message: `EVENTLINE_TOKENS_FILE: cannot read ${file}: ${cause instanceof Error ? cause.message : String(cause)}`
              })
          })
    const inline = authentication.tokens === undefined ? "" : Redacted.value(authentication.tokens)
    return yield* Auth.parseTokens(`${inline}\n${fromFile}`).pipe(
      Effect.mapError((error) => new InvalidConfiguration({ message: `EVENTLINE_TOKENS: ${error.message}` }))
    )
  }).pipe(Effect.tapError((error) => Effect.logError(`invalid configuration: ${error.message}`)))

const program = Effect.gen(function* () {
  const settings = yield* config.pipe(
    Effect.catchTag("ConfigError", (error) =>
      Effect.andThen(
        Effect.logError(`invalid configuration: ${error.message}`),
        Effect.fail(new InvalidConfiguration({ message: error.message }))
      )
    )
  )
  const tokens = yield* readTokens(settings.authentication)
  const auth = yield* Auth.resolve({ tokens, mode: settings.authentication.mode, host: settings.host }).pipe(
    Effect.catchTag("Unprotected", (error) =>
      Effect.andThen(
        Effect.logError(`refusing to start: ${error.message}`),
        Effect.fail(new InvalidConfiguration({ message: error.message }))
      )
    ),
    // its warning in the service's log format
    Effect.provide(Logging.layer({ level: settings.logLevel, format: settings.logFormat }))
  )
  const announce = Layer.effectDiscard(
    Effect.gen(function* () {
      const url = yield* HttpServer.url
      const store =
        settings.database._tag === "Postgres"
          ? "PostgreSQL (DATABASE_URL)"
          : settings.database.dataDir === undefined
            ? "embedded PGlite in memory"
            : `embedded PGlite in ${settings.database.dataDir}`
      yield* Effect.logInfo(`Eventline Order service listening on ${url} (store: ${store}); API page at ${url}/docs`)
      if (auth !== undefined) {
        yield* Effect.logInfo(
          `bearer tokens required (clients: ${auth.map((token) => `${token.client} (${token.scope})`).join(", ")})`
        )
      }
    })
  )
  const app = announce.pipe(
    Layer.provide(
      Layers.layer({
        ...settings,
        auth: auth === undefined ? undefined : { tokens: auth, identityHeader: settings.authentication.identityHeader },
        limits: settings.limits,
        corsOrigins: settings.corsOrigins
      })
    ),
    Layer.provide(settings.otlpEndpoint === undefined ? Layer.empty : otlpLayer(settings.otlpEndpoint)),
    Layer.provide(Logging.layer({ level: settings.logLevel, format: settings.logFormat }))
  )
  return yield* Layer.launch(app).pipe(
    // the usual reason a server cannot start: say it in words, not a stack trace
    Effect.catchTag("ServeError", (error) => {
      const cause: unknown = error.cause
      const code = typeof cause === "object" && cause !== null && "code" in cause ? String(cause.code) : ""
      const message =
        code === "EADDRINUSE"
          ? `port ${settings.port} is already in use: stop the other process or set PORT`
          : `the HTTP server could not start: ${cause instanceof Error ? cause.message : String(cause)}`
      return Effect.andThen(Effect.logError(message), Effect.fail(new InvalidConfiguration({ message })))
    })
  )
})

NodeRuntime.runMain(program, {
  // a stop by SIGTERM/SIGINT is a clean exit once everything has been released
  teardown: (exit, onExit) =>
    Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)
})
