import { spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as EffectCopies from "../src/internal/effectCopies.ts"

const coreSrc = fileURLToPath(new URL("../src/", import.meta.url))
const workspaceEffect = Path.dirname(fileURLToPath(import.meta.resolve("effect/package.json")))

const registration = (marker: unknown, effectUrl: string | undefined, coreUrl: string) => ({
  marker,
  effectUrl,
  coreUrl
})

const coreIndex = pathToFileURL(Path.join(coreSrc, "index.ts")).href

/**
 * Run an app (`app.mjs`, its lines from `setup`) in a child process whose own `effect` is a second
 * module instance of the workspace's (a symlink, with --preserve-symlinks), as a second installed
 * copy would be. The directory is removed with the scope.
 */
const runBesideSecondEffect = (setup: (dir: string) => ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const dir = yield* Effect.acquireRelease(
      Effect.sync(() => Fs.mkdtempSync(Path.join(Os.tmpdir(), "eventline-effect-copies-"))),
      (dir) => Effect.sync(() => Fs.rmSync(dir, { recursive: true, force: true }))
    )
    yield* Effect.sync(() => {
      Fs.mkdirSync(Path.join(dir, "node_modules"))
      Fs.symlinkSync(workspaceEffect, Path.join(dir, "node_modules", "effect"), "dir")
      Fs.writeFileSync(Path.join(dir, "app.mjs"), setup(dir).join("\n"))
    })
    const child = yield* Effect.sync(() =>
      spawnSync(process.execPath, ["--preserve-symlinks", Path.join(dir, "app.mjs")], {
        encoding: "utf8",
        env: { ...process.env, NODE_OPTIONS: "" },
        timeout: 60_000
      })
    )
    return { child, dir }
  })

describe("EffectCopies", () => {
  it("loading @eventline/core records the effect it uses in the process-wide registry", async () => {
    await import("../src/index.ts")
    const recorded = (globalThis as { [EffectCopies.registryKey]?: EffectCopies.Registration })[
      EffectCopies.registryKey
    ]
    assert.isDefined(recorded)
    assert.strictEqual(EffectCopies.registryKey, Symbol.for("@eventline/core/effect-instance"))
  })

  it("a second core on the same effect is welcome; on another effect it is refused, naming both", () => {
    const registry = {}
    const effectA = {}
    const effectB = {}
    EffectCopies.register(
      registry,
      registration(
        effectA,
        "file:///app/node_modules/effect/dist/index.js",
        "file:///app/node_modules/@eventline/core/dist/"
      )
    )
    // the same copy again: another core (or the same one re-evaluated by a test runner)
    EffectCopies.register(
      registry,
      registration(
        effectA,
        "file:///app/node_modules/effect/dist/index.js",
        "file:///app/node_modules/@eventline/postgres/node_modules/@eventline/core/dist/"
      )
    )
    // the same effect file evaluated twice is one installed copy, not two
    EffectCopies.register(
      registry,
      registration(
        {},
        "file:///app/node_modules/effect/dist/index.js",
        "file:///app/node_modules/@eventline/core/dist/"
      )
    )
    const refused = (() => {
      try {
        EffectCopies.register(
          registry,
          registration(
            effectB,
            "file:///app/node_modules/@eventline/postgres/node_modules/effect/dist/index.js",
            "file:///app/node_modules/@eventline/postgres/node_modules/@eventline/core/dist/"
          )
        )
        return undefined
      } catch (error) {
        return error
      }
    })()
    assert.instanceOf(refused, EffectCopies.TwoCopiesOfEffect)
    const text = refused instanceof Error ? refused.message : ""
    assert.include(text, "effect at file:///app/node_modules/@eventline/postgres/node_modules/effect/dist/index.js")
    assert.include(text, "effect at file:///app/node_modules/effect/dist/index.js")
    assert.include(text, "npm dedupe")
    assert.include(text, "peerDependencies")
  })

  it("an effect whose location is unknown and whose instance differs is a second copy", () => {
    const registry = {}
    EffectCopies.register(registry, registration({}, undefined, "file:///bundle/"))
    assert.throws(
      () => EffectCopies.register(registry, registration({}, undefined, "file:///bundle/")),
      EffectCopies.TwoCopiesOfEffect
    )
  })

  // The real thing: one process loads the workspace's core (on the workspace's effect) and then a
  // second core that resolves `effect` to another directory. Symlinks with --preserve-symlinks
  // give two module instances of effect without copying it, as two installed copies would.
  it.effect("a process that loads a second core on a second copy of effect fails fast with the message", () =>
    Effect.gen(function* () {
      const { child, dir } = yield* runBesideSecondEffect((dir) => {
        Fs.mkdirSync(Path.join(dir, "second-core"))
        Fs.writeFileSync(Path.join(dir, "second-core", "package.json"), JSON.stringify({ type: "module" }))
        Fs.symlinkSync(coreSrc, Path.join(dir, "second-core", "src"), "dir")
        return [
          `await import(${JSON.stringify(coreIndex)})`,
          `await import(${JSON.stringify(pathToFileURL(Path.join(dir, "second-core", "src", "index.ts")).href)})`,
          `console.log("loaded both")`
        ]
      })
      assert.notStrictEqual(child.status, 0, child.stdout)
      assert.notInclude(child.stdout, "loaded both")
      assert.include(child.stderr, "TwoCopiesOfEffect")
      assert.include(child.stderr, "two copies of `effect` are loaded in this process")
      assert.include(child.stderr, `${pathToFileURL(Path.join(dir, "node_modules", "effect")).href}/`)
      assert.include(child.stderr, `${pathToFileURL(workspaceEffect).href}/`)
    })
  )

  // The issue's own case: one core, but the app builds its schemas with its own copy of effect.
  it.effect("an aggregate whose schemas come from another copy of effect is refused when it is made", () =>
    Effect.gen(function* () {
      const { child } = yield* runBesideSecondEffect(() => [
        `const { Aggregate } = await import(${JSON.stringify(coreIndex)})`,
        `const { Schema } = await import("effect")`,
        `const commands = Schema.TaggedUnion({ Deposit: { accountId: Schema.String, cents: Schema.Int } })`,
        `const events = Schema.TaggedUnion({ Deposited: { cents: Schema.Int } })`,
        `const decider = { initialState: 0, decide: () => ({ _tag: "Success", success: [] }), evolve: (s) => s }`,
        `Aggregate.make({ streamType: "Account", decider, commands, events, schemaVersion: 1, streamId: (c) => c.accountId })`,
        `console.log("made")`
      ])
      assert.notStrictEqual(child.status, 0, child.stdout)
      assert.notInclude(child.stdout, "made")
      assert.include(child.stderr, "TwoCopiesOfEffect")
      assert.include(child.stderr, "the command schema of aggregate 'Account' was built with another copy of `effect`")
    })
  )
})
