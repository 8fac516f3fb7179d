/**
 * Commands over HTTP without a server: If-Match evaluated against the store.
 */
import { assert, describe, it } from "@effect/vitest"
import { Aggregate, CommandBus, Decider, InMemoryEventStore } from "@eventline/core"
import { Effect, Layer, Schema } from "effect"
import { Commands, Preconditions, RequestContext } from "../src/index.ts"

const Command = Schema.TaggedUnion({ Note: { id: Schema.String } })
const Event = Schema.TaggedUnion({ Noted: {} })
const Notes = Aggregate.make({
  streamType: "Note",
  decider: {
    initialState: 0,
    decide: () => Decider.accept(Event.cases.Noted.make({})),
    evolve: (count: number) => count + 1
  } satisfies Decider.Decider<typeof Command.Type, typeof Event.Type, number, never>,
  commands: Command,
  events: Event,
  schemaVersion: 1,
  streamId: (command) => command.id
})

const Services = Layer.mergeAll(
  CommandBus.layer([CommandBus.fromAggregate(Notes)]).pipe(Layer.provideMerge(InMemoryEventStore.layer)),
  Layer.succeed(RequestContext.RequestContext, { requestId: "r", correlationId: "c", method: "POST", url: "/" })
)

const ifMatch = Schema.decodeUnknownSync(Preconditions.IfMatch)
const note = (id: string, header: string | undefined) =>
  Commands.dispatch(Command.cases.Note.make({ id }), {
    streamId: id,
    ...(header === undefined ? {} : { ifMatch: ifMatch(header) })
  })

describe("Commands.dispatch and If-Match", () => {
  it.effect("compares strongly: the current version as a weak tag fails the precondition (412)", () =>
    Effect.gen(function* () {
      yield* note("n-1", undefined)
      const weak = yield* Effect.flip(note("n-1", 'W/"1"'))
      assert.deepInclude(weak, { status: 412, type: "urn:eventline:problem:precondition-failed", currentVersion: 1 })
      const strong = yield* note("n-1", '"1"')
      assert.strictEqual(strong.version, 2)
    }).pipe(Effect.provide(Services))
  )

  it.effect("* matches an existing stream only", () =>
    Effect.gen(function* () {
      const missing = yield* Effect.flip(note("n-2", "*"))
      assert.deepInclude(missing, { status: 412, currentVersion: 0 })
      yield* note("n-2", undefined)
      assert.strictEqual((yield* note("n-2", "*")).version, 2)
    }).pipe(Effect.provide(Services))
  )

  it("keeps a weak tag weak when decoding the header", () => {
    assert.deepStrictEqual(ifMatch('W/"7"'), { _tag: "Weak", version: 7 })
    assert.deepStrictEqual(ifMatch('"7"'), { _tag: "Version", version: 7 })
  })
})
