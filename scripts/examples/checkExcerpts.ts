/**
 * Checks that the code shown in Markdown files is code the examples run: every fenced block right
 * after a `<!-- excerpt: <path from the repository root> -->` line must be a verbatim excerpt of
 * that file, line for line (its indentation may differ: the formatter dedents Markdown code). A
 * line `// ...` in a block marks an omission: the pieces between such lines must occur in the file
 * in this order.
 *
 *   node scripts/examples/checkExcerpts.ts README.md examples/README.md
 */
import { existsSync, readFileSync } from "node:fs"
import { resolve } from "node:path"

const root = resolve(import.meta.dirname, "../..")
const marked = /<!-- excerpt: (\S+) -->\n```[a-z]*\n([\s\S]*?)\n```/g
const omission = /^[ \t]*\/\/ \.\.\.$/m

/** Lines without their common indentation (a formatter may dedent a block). */
const dedent = (lines: ReadonlyArray<string>): Array<string> => {
  const indents = lines.filter((line) => line.trim() !== "").map((line) => line.length - line.trimStart().length)
  const common = Math.min(...indents)
  return lines.map((line) => line.slice(common))
}

/** Where `piece` occurs in `source` at or after line `from`, at any one indentation; -1 when it does not. */
const find = (source: ReadonlyArray<string>, piece: ReadonlyArray<string>, from: number): number => {
  const first = piece[0] ?? ""
  for (let start = from; start + piece.length <= source.length; start++) {
    const line = source[start] ?? ""
    if (!line.endsWith(first)) continue
    const indent = line.slice(0, line.length - first.length)
    if (indent.trim() !== "") continue
    const matches = piece.every((expected, index) => {
      const actual = source[start + index] ?? ""
      return expected === "" ? actual.trim() === "" : actual === indent + expected
    })
    if (matches) return start
  }
  return -1
}

const problems: Array<string> = []
let checked = 0

for (const markdown of process.argv.slice(2)) {
  const text = readFileSync(resolve(root, markdown), "utf8")
  for (const [, path = "", block = ""] of text.matchAll(marked)) {
    checked++
    const file = resolve(root, path)
    if (!existsSync(file)) {
      problems.push(`${markdown}: the excerpt names ${path}, which does not exist`)
      continue
    }
    const source = readFileSync(file, "utf8").split("\n")
    let from = 0
    for (const part of block.split(omission)) {
      const piece = dedent(part.replace(/^\n+|\n+$/g, "").split("\n"))
      const at = find(source, piece, from)
      if (at < 0) {
        problems.push(
          `${markdown}: this excerpt is not (or no longer, or not in this order) in ${path}:\n${piece.join("\n")}`
        )
        break
      }
      from = at + piece.length
    }
  }
}

for (const problem of problems) console.error(problem)
console.log(`${checked} excerpts, ${problems.length} out of date`)
process.exitCode = problems.length === 0 ? 0 : 1
