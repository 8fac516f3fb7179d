import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { ExpectedVersion } from "../src/index.ts"

describe("ExpectedVersion", () => {
  it("exact builds what the schema builds, and what the schema accepts", () => {
    assert.deepStrictEqual(ExpectedVersion.exact(3), ExpectedVersion.ExpectedVersion.cases.Exact.make({ version: 3 }))
    assert.isTrue(Schema.is(ExpectedVersion.ExpectedVersion)(ExpectedVersion.exact(0)))
    assert.strictEqual(ExpectedVersion.format(ExpectedVersion.exact(7)), "7")
  })

  it("exact refuses a version the schema refuses", () => {
    for (const version of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.throws(() => ExpectedVersion.exact(version), /non-negative integer/)
      assert.isFalse(Schema.is(ExpectedVersion.ExpectedVersion)({ _tag: "Exact", version }))
    }
  })
})
