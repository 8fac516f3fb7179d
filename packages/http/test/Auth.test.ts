import { assert, describe, it } from "@effect/vitest"
import { Effect, Redacted } from "effect"
import { Auth } from "../src/index.ts"

describe("Auth", () => {
  it.effect("parses token lists from the environment or a file, and names a bad entry without its secret", () =>
    Effect.gen(function* () {
      const tokens = yield* Auth.parseTokens(
        "# the ops team\nci:write:ci-token-0123456789abcdef, dashboard:read:dash:with:colons-0123\n\n"
      )
      assert.deepStrictEqual(
        tokens.map((token) => [token.client, token.scope, Redacted.value(token.secret)]),
        [
          ["ci", "write", "ci-token-0123456789abcdef"],
          ["dashboard", "read", "dash:with:colons-0123"]
        ]
      )
      const short = yield* Effect.flip(Auth.parseTokens("ci:write:tooshort"))
      assert.include(short.message, "client 'ci'")
      assert.notInclude(short.message, "tooshort")
      const scope = yield* Effect.flip(Auth.parseTokens("ci:admin:ci-token-0123456789abcdef"))
      assert.notInclude(scope.message, "ci-token-0123456789abcdef")
      const twice = yield* Effect.flip(
        Auth.parseTokens("ci:write:ci-token-0123456789abcdef,ci:read:ci-token-fedcba9876543210")
      )
      assert.include(twice.message, "twice")
    })
  )

  it.effect("without tokens: open on a loopback address only, unless authentication is turned off", () =>
    Effect.gen(function* () {
      const token: Auth.Token = { client: "ci", scope: "write", secret: Redacted.make("ci-token-0123456789abcdef") }
      assert.isUndefined(yield* Auth.resolve({ tokens: [], mode: "auto", host: "127.0.0.1" }))
      assert.isUndefined(yield* Auth.resolve({ tokens: [], mode: "auto", host: "::1" }))
      assert.isUndefined(yield* Auth.resolve({ tokens: [], mode: "auto", host: "localhost" }))
      for (const host of ["0.0.0.0", "::", "10.0.0.5", undefined]) {
        const refused = yield* Effect.flip(Auth.resolve({ tokens: [], mode: "auto", host }))
        assert.include(refused.message, "EVENTLINE_AUTH=off")
      }
      assert.isUndefined(yield* Auth.resolve({ tokens: [], mode: "off", host: "0.0.0.0" }))
      assert.strictEqual(
        (yield* Effect.flip(Auth.resolve({ tokens: [], mode: "on", host: "127.0.0.1" })))._tag,
        "Unprotected"
      )
      assert.deepStrictEqual(yield* Auth.resolve({ tokens: [token], mode: "auto", host: "0.0.0.0" }), [token])
    })
  )
})
