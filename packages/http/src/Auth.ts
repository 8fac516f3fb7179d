/**
 * Bearer-token authentication: each token names a client and a scope (`read`: GET and HEAD;
 * `write`: every method). A request without a valid token is refused with a 401 problem and
 * `WWW-Authenticate: Bearer`, a valid token without the scope with a 403; the paths in
 * `openPaths` (health probes, the API page and document) need none. Tokens are compared in
 * constant time: the presented token and every configured one are hashed (SHA-256) and compared
 * with `timingSafeEqual`, all of them, whatever matches.
 *
 * The authenticated client (`CurrentClient`) scopes what belongs to a caller, such as its
 * idempotency keys. For real identities put the service behind an OIDC proxy (oauth2-proxy,
 * an API gateway): the proxy authenticates users and calls the service with its own token, and,
 * with `identityHeader` set, names the user in that header (e.g. `X-Forwarded-User`); the header
 * is believed only on a request that carries a valid token, and the client becomes
 * `<token client>/<user>`.
 *
 * @since 0.3.0
 */
import { createHash, timingSafeEqual } from "node:crypto"
import { Context, Effect, Redacted, Schema } from "effect"
import type { HttpServerRequest, HttpServerResponse } from "effect/http"
import * as Problem from "./Problem.ts"

/**
 * What a token allows: `read` (GET, HEAD) or `write` (every method).
 *
 * @category schemas
 * @since 0.3.0
 */
export const Scope = Schema.Literals(["read", "write"])

/**
 * @category models
 * @since 0.3.0
 */
export type Scope = typeof Scope.Type

/**
 * A client's name: 1 to 64 letters, digits, `.`, `_` or `-`.
 *
 * @category schemas
 * @since 0.3.0
 */
export const ClientName = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9._-]{1,64}$/, {
    message: "a client name is 1 to 64 letters, digits, '.', '_' or '-'"
  })
)

/**
 * A token's secret: 16 to 512 visible ASCII characters.
 *
 * @category schemas
 * @since 0.3.0
 */
export const Secret = Schema.String.check(
  Schema.isPattern(/^[\x21-\x7e]{16,512}$/, { message: "a token is 16 to 512 visible ASCII characters" })
)

/**
 * One configured token.
 *
 * @category schemas
 * @since 0.3.0
 */
export const Token = Schema.Struct({ client: ClientName, scope: Scope, secret: Schema.Redacted(Secret) })

/**
 * @category models
 * @since 0.3.0
 */
export type Token = typeof Token.Type

/**
 * The authenticated caller of the current request; `undefined` where authentication is off.
 *
 * @category models
 * @since 0.3.0
 */
export interface Client {
  readonly name: string
  readonly scope: Scope
}

/**
 * The client of the current request (`undefined`: authentication is off).
 *
 * @category services
 * @since 0.3.0
 */
export class CurrentClient extends Context.Reference<Client | undefined>("@eventline/http/Auth/CurrentClient", {
  defaultValue: () => undefined
}) {}

/**
 * @category models
 * @since 0.3.0
 */
export interface Options {
  /** The tokens; at least one. */
  readonly tokens: ReadonlyArray<Token>
  /** Path prefixes open without a token. Default: `/health/`, `/docs`, `/openapi.json`. */
  readonly openPaths?: ReadonlyArray<string> | undefined
  /** A header naming the end user, believed only with a valid token (a proxy's). Default: none. */
  readonly identityHeader?: string | undefined
}

/**
 * @category constants
 * @since 0.3.0
 */
export const defaultOpenPaths: ReadonlyArray<string> = ["/health/", "/docs", "/openapi.json"]

/**
 * A token list could not be read.
 *
 * @category errors
 * @since 0.3.0
 */
export class InvalidTokens extends Schema.TaggedError<InvalidTokens>()("InvalidTokens", {
  message: Schema.String
}) {}

const decodeEntry = Schema.decodeUnknownEffect(Schema.Struct({ client: ClientName, scope: Scope, secret: Secret }))

/**
 * Parse a token list: entries `client:scope:token`, separated by commas or new lines; blank
 * lines and lines starting with `#` are skipped. The error names the entry by its position and
 * client, never its secret.
 *
 * @category parsing
 * @since 0.3.0
 */
export const parseTokens = (text: string): Effect.Effect<ReadonlyArray<Token>, InvalidTokens> =>
  Effect.gen(function* () {
    const entries = text
      .split(/[\n,]/)
      .map((entry) => entry.trim())
      .filter((entry) => entry !== "" && !entry.startsWith("#"))
    const tokens: Array<Token> = []
    for (const [index, entry] of entries.entries()) {
      const [client = "", scope = "", ...rest] = entry.split(":")
      const secret = rest.join(":")
      const decoded = yield* decodeEntry({ client, scope, secret }).pipe(
        Effect.mapError((error) => {
          const reason = secret === "" ? error.message : error.message.replaceAll(secret, "<redacted>")
          return new InvalidTokens({
            message: `token entry ${index + 1} (client '${client}'): expected client:scope:token, scope read or write; ${reason}`
          })
        })
      )
      if (tokens.some((other) => other.client === decoded.client)) {
        return yield* new InvalidTokens({ message: `token entry ${index + 1}: client '${client}' appears twice` })
      }
      tokens.push({ client: decoded.client, scope: decoded.scope, secret: Redacted.make(decoded.secret) })
    }
    return tokens
  })

/**
 * Whether a listen address is a loopback one (`localhost`, `127.x.x.x`, `::1`).
 *
 * @category predicates
 * @since 0.3.0
 */
export const isLoopback = (host: string | undefined): boolean => {
  if (host === undefined) return false
  const normalized = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, "")
  return normalized === "localhost" || normalized === "::1" || /^127(\.\d{1,3}){3}$/.test(normalized)
}

/**
 * @category models
 * @since 0.3.0
 */
export type Mode = "auto" | "on" | "off"

/**
 * Authentication would be off on an address other machines can reach.
 *
 * @category errors
 * @since 0.3.0
 */
export class Unprotected extends Schema.TaggedError<Unprotected>()("Unprotected", { message: Schema.String }) {}

/**
 * The start-up decision: with tokens, authentication is on; without, the service is open only
 * on a loopback address (one warning), and refuses to start on any other unless `mode` is
 * `off`. `mode: "on"` without tokens is an error too.
 *
 * @category constructors
 * @since 0.3.0
 */
export const resolve = (settings: {
  readonly tokens: ReadonlyArray<Token>
  readonly mode: Mode
  readonly host: string | undefined
}): Effect.Effect<ReadonlyArray<Token> | undefined, Unprotected> =>
  Effect.gen(function* () {
    if (settings.mode === "off") {
      yield* Effect.logWarning(
        "authentication is off (EVENTLINE_AUTH=off): anyone who reaches the port can call the API"
      )
      return undefined
    }
    if (settings.tokens.length > 0) return settings.tokens
    if (settings.mode === "on") {
      return yield* new Unprotected({
        message: "EVENTLINE_AUTH=on needs tokens: set EVENTLINE_TOKENS or EVENTLINE_TOKENS_FILE"
      })
    }
    if (!isLoopback(settings.host)) {
      return yield* new Unprotected({
        message: `no tokens configured and HOST ${settings.host ?? "(all interfaces)"} is reachable from other machines: set EVENTLINE_TOKENS or EVENTLINE_TOKENS_FILE, or EVENTLINE_AUTH=off to serve it open`
      })
    }
    yield* Effect.logWarning(
      `authentication is off: no tokens configured (EVENTLINE_TOKENS); open on the loopback address ${settings.host} only`
    )
    return undefined
  })

const digest = (secret: string): Buffer => createHash("sha256").update(secret).digest()

const realm = 'Bearer realm="eventline"'

const unauthorized = (detail: string, challenge: string) =>
  Problem.respond(
    { type: Problem.types.unauthorized, title: "Authentication required", status: 401, detail },
    { "www-authenticate": challenge }
  )

const readMethods = new Set(["GET", "HEAD"])

const isVisibleAscii = (value: string): boolean => /^[\x21-\x7e]{1,200}$/.test(value)

/**
 * The authentication middleware for these options: run `app` as the request's client, or
 * answer 401/403.
 *
 * @category middleware
 * @since 0.3.0
 */
export const make = (options: Options) => {
  const known = options.tokens.map((token) => ({ token, digest: digest(Redacted.value(token.secret)) }))
  const openPaths = options.openPaths ?? defaultOpenPaths
  const identityHeader = options.identityHeader?.toLowerCase()

  // every configured token is compared, whichever matches, in constant time per comparison
  const find = (presented: string): Token | undefined => {
    const presentedDigest = digest(presented)
    let found: Token | undefined
    for (const { token, digest: expected } of known) {
      if (timingSafeEqual(presentedDigest, expected) && found === undefined) found = token
    }
    return found
  }

  return <E, R>(
    app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>,
    request: HttpServerRequest.HttpServerRequest
  ): Effect.Effect<HttpServerResponse.HttpServerResponse, E, R> => {
    const path = request.url.split("?")[0] ?? request.url
    if (openPaths.some((prefix) => path === prefix || path.startsWith(prefix))) return app
    const authorization = request.headers.authorization
    const match = authorization === undefined ? null : /^Bearer[ ]+(\S+)\s*$/i.exec(authorization)
    if (match === null || match[1] === undefined) {
      return unauthorized(
        authorization === undefined
          ? "send a bearer token: Authorization: Bearer <token>"
          : "the Authorization header must be: Bearer <token>",
        authorization === undefined ? realm : `${realm}, error="invalid_request"`
      )
    }
    const token = find(match[1])
    if (token === undefined) return unauthorized("the bearer token is not valid", `${realm}, error="invalid_token"`)
    if (token.scope === "read" && !readMethods.has(request.method)) {
      return Problem.respond(
        {
          type: Problem.types.forbidden,
          title: "The token's scope does not allow this request",
          status: 403,
          detail: `${request.method} needs a token with the write scope; client '${token.client}' has read`
        },
        { "www-authenticate": `${realm}, error="insufficient_scope", scope="write"` }
      )
    }
    const user = identityHeader === undefined ? undefined : request.headers[identityHeader]
    if (user !== undefined && !isVisibleAscii(user)) {
      return Problem.respond(
        Problem.badRequest(`the ${options.identityHeader} header must be 1 to 200 visible ASCII characters`)
      )
    }
    const client: Client = { name: user === undefined ? token.client : `${token.client}/${user}`, scope: token.scope }
    return Effect.provideService(app, CurrentClient, client)
  }
}
