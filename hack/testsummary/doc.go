// Command testsummary reads `go test -json` on stdin and prints what a
// plain `go test` prints per package (ok, FAIL, no test files), the whole
// output of every failed test, and at the end every skipped test with its
// reason, so that a skip is never invisible in CI (`make unit`). It exits
// 1 when a test or a package build failed.
package main
