/**
 * The SQL statements one HTTP command costs on its request path (issue 11: at most 2 per command,
 * one more with an Idempotency-Key), counted by a statement transformer that sees only the
 * statements run by a request's fibers (those with a `RequestContext`): the projections, the saga
 * and the NOTIFY fiber run outside any request and are not counted.
 */
import { assert, describe, layer } from "@effect/vitest"
import { RequestContext } from "@eventline/http"
import { TestEnvironment } from "@eventline/testing"
import { Context, Effect, Layer, Redacted, type Scope } from "effect"
import type { HttpServer } from "effect/http"
import { Statement } from "effect/sql"
import { inject } from "vitest"
import { throwawayDatabase } from "../../postgres/test/utils.ts"
import type { Database } from "../src/Config.ts"
import { baseUrl, call, orderBody, serviceLayer, unique } from "./e2e.ts"

const databaseUrl = inject("databaseUrl")

/** Statements run on a request path since the last `take`. */
class RequestStatements extends Context.Service<RequestStatements, { take: () => number }>()(
  "test/RequestStatements"
) {}

const counted = <E>(database: Effect.Effect<Database, E, Scope.Scope>) =>
  Layer.unwrap(
    Effect.gen(function* () {
      let statements = 0
      const transformer: Statement.Transformer = (statement, _sql, fiber) => {
        if (Context.getOption(fiber.context, RequestContext.RequestContext)._tag === "Some") statements++
        return Effect.succeed(statement)
      }
      const take = () => {
        const taken = statements
        statements = 0
        return taken
      }
      return serviceLayer(yield* database).pipe(
        Layer.provide(Layer.succeed(Statement.CurrentTransformer, transformer)),
        Layer.merge(Layer.succeed(RequestStatements, { take }))
      )
    })
  )

const requests = 10

const suite = <E>(name: string, service: Layer.Layer<HttpServer.HttpServer | RequestStatements, E>) =>
  layer(service, { excludeTestServices: true, timeout: "120 seconds" })(name, (it) => {
    it.effect(
      "a create is one statement, a command on an existing order two, an Idempotency-Key adds two, a replay is one",
      () =>
        Effect.gen(function* () {
          const base = yield* baseUrl
          const counter = yield* RequestStatements
          const perRequest = (run: (index: number) => Effect.Effect<number>) =>
            Effect.gen(function* () {
              counter.take()
              for (let index = 0; index < requests; index++) assert.oneOf(yield* run(index), [200, 201])
              return counter.take() / requests
            })
          const ids = Array.from({ length: requests }, () => unique("rt"))
          const post = (path: string, options?: Parameters<typeof call>[2]) =>
            Effect.map(call("POST", `${base}${path}`, options), (reply) => reply.status)
          const plain = yield* perRequest((index) =>
            post("/orders", { json: orderBody("c-1", [["p-1", 1]], ids[index]) })
          )
          const keyed = (index: number) =>
            post("/orders", {
              json: orderBody("c-1", [["p-1", 1]]),
              headers: { "idempotency-key": `key-${ids[index]}` }
            })
          const firstKeyed = yield* perRequest(keyed)
          const replayed = yield* perRequest(keyed)
          const confirm = yield* perRequest((index) => post(`/orders/${ids[index]}/confirm`))
          // the append only; claim + append + stored response; the claim finds the stored response;
          // read (one query) + append
          assert.deepStrictEqual(
            { plain, keyed: firstKeyed, replayed, confirm },
            { plain: 1, keyed: 3, replayed: 1, confirm: 2 }
          )
        })
    )
  })

suite("request-path statements on PGlite", counted(Effect.succeed<Database>({ _tag: "Embedded", dataDir: undefined })))

describe.skipIf(!TestEnvironment.isAvailable("PostgreSQL", databaseUrl, "set DATABASE_URL"))("on PostgreSQL", () => {
  suite(
    "request-path statements on PostgreSQL",
    counted(
      Effect.map(
        throwawayDatabase(databaseUrl ?? "", "e_roundtrips"),
        (url): Database => ({ _tag: "Postgres", url: Redacted.make(url) })
      )
    )
  )
})
