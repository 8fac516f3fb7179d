/**
 * The app's own HttpApi: three of Eventline's reusable groups (the streams and the global log
 * with its SSE tail, health, metrics) next to two groups of its own. Only the commands group asks
 * for problem+json (RFC 9457), by declaring Eventline's middleware; the query group answers in
 * the app's own error shape.
 */
import { Health, Metrics, Middleware, Problem, Streams } from "@eventline/http"
import { Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { AccountCommand } from "./Account.ts"

export class AccountCommands extends HttpApiGroup.make("accountCommands")
  .add(
    HttpApiEndpoint.post("dispatch", "/commands", {
      payload: AccountCommand,
      success: Schema.Struct({ streamId: Schema.String, version: Schema.Int }),
      error: Problem.commandErrors
    })
  )
  // every failure of this group as problem+json, with the request's id in it
  .middleware(Middleware.Problems)
  .middleware(Middleware.RequestIds) {}

export class AccountUnknown extends Schema.TaggedError<AccountUnknown>()(
  "AccountUnknown",
  { accountId: Schema.String },
  { httpApiStatus: 404 }
) {}

export class AccountQueries extends HttpApiGroup.make("accountQueries").add(
  HttpApiEndpoint.get("get", "/accounts/:accountId", {
    params: { accountId: Schema.String },
    success: Schema.Struct({ owner: Schema.String, balance: Schema.Int }),
    error: AccountUnknown
  })
) {}

export class Api extends HttpApi.make("bank")
  .add(Streams.Group)
  .add(Health.Group)
  .add(Metrics.Group)
  .add(AccountCommands)
  .add(AccountQueries) {}
