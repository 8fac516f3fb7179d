import { assert, describe, it } from "@effect/vitest"
import { EventEnvelope } from "@eventline/core"
import { Schema } from "effect"

describe("EventEnvelope.Timestamp", () => {
  const isTimestamp = Schema.is(EventEnvelope.Timestamp)
  it("accepts real UTC instants and refuses impossible ones", () => {
    const cases: ReadonlyArray<readonly [string, boolean]> = [
      ["2026-11-27T10:00:00.000Z", true],
      ["2024-02-29T00:00:00Z", true],
      ["2000-02-29T00:00:00Z", true],
      ["2026-04-30T23:59:59.999999Z", true],
      ["2023-02-29T00:00:00Z", false],
      ["1900-02-29T00:00:00Z", false],
      ["2026-02-30T00:00:00Z", false],
      ["2026-04-31T00:00:00Z", false],
      ["2026-13-01T00:00:00Z", false],
      ["2026-00-10T00:00:00Z", false],
      ["2026-04-30T24:00:00Z", false],
      ["2026-04-30T10:60:00Z", false],
      ["2026-04-30T10:00:60Z", false],
      ["2026-04-30 10:00:00Z", false],
      ["2026-04-30T10:00:00+02:00", false]
    ]
    for (const [text, expected] of cases) assert.strictEqual(isTimestamp(text), expected, text)
  })
})
