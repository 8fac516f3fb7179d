/**
 * Fails CI when a vitest JSON report shows a skipped, todo or failed test, or no tests at all:
 * a green CI must mean that every suite ran.
 */
import { readFileSync } from "node:fs"

interface Report {
  readonly numTotalTests: number
  readonly numPassedTests: number
  readonly numFailedTests: number
  readonly numPendingTests: number
  readonly numTodoTests: number
  readonly testResults: ReadonlyArray<{
    readonly name: string
    readonly assertionResults: ReadonlyArray<{ readonly fullName: string; readonly status: string }>
  }>
}

const path = process.argv[2]
if (path === undefined) {
  process.stderr.write("usage: checkNoSkips.ts <vitest-json-report>\n")
  process.exit(2)
}
const report = JSON.parse(readFileSync(path, "utf8")) as Report
const notRun = report.testResults.flatMap((file) =>
  file.assertionResults
    .filter((test) => test.status !== "passed")
    .map((test) => `${test.status}: ${file.name.replace(process.cwd(), ".")} > ${test.fullName}`)
)
const emptyFiles = report.testResults.filter((file) => file.assertionResults.length === 0).map((file) => file.name)
process.stdout.write(
  `tests: ${report.numTotalTests} total, ${report.numPassedTests} passed, ${report.numFailedTests} failed, ` +
    `${report.numPendingTests} skipped, ${report.numTodoTests} todo\n`
)
if (report.numTotalTests === 0 || notRun.length > 0 || emptyFiles.length > 0) {
  for (const line of notRun) process.stderr.write(`${line}\n`)
  for (const file of emptyFiles) process.stderr.write(`no tests ran in ${file}\n`)
  process.stderr.write("CI fails: every test must run and pass\n")
  process.exit(1)
}
