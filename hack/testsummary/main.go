package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

type key struct{ pkg, test string }

func main() {
	os.Exit(run(os.Stdin, os.Stdout))
}

func run(in io.Reader, out io.Writer) int {
	output := map[key][]string{}
	var skipped, failed []key
	failedPkgs := 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var ev event
		if err := json.Unmarshal(line, &ev); err != nil || ev.Action == "" {
			// Not test2json: a build error printed by go test itself.
			fmt.Fprintln(out, string(line))
			continue
		}
		k := key{ev.Package, ev.Test}
		switch ev.Action {
		case "output":
			if ev.Test == "" {
				// Package lines: ok, FAIL, coverage, no test files.
				if s := ev.Output; strings.HasPrefix(s, "ok ") || strings.HasPrefix(s, "FAIL") ||
					strings.HasPrefix(s, "?") || strings.HasPrefix(s, "---") || strings.Contains(s, "[build failed]") ||
					strings.HasPrefix(s, "panic") || strings.HasPrefix(s, "#") {
					fmt.Fprint(out, s)
				}
			}
			output[k] = append(output[k], ev.Output)
		case "skip":
			if ev.Test != "" {
				skipped = append(skipped, k)
			}
		case "fail":
			if ev.Test == "" {
				failedPkgs++
				continue
			}
			failed = append(failed, k)
			fmt.Fprintf(out, "--- FAIL: %s (%s)\n%s", ev.Test, ev.Package, strings.Join(output[k], ""))
		case "pass":
			if ev.Test != "" {
				delete(output, k)
			}
		}
	}
	if len(skipped) > 0 {
		sort.Slice(skipped, func(i, j int) bool {
			if skipped[i].pkg != skipped[j].pkg {
				return skipped[i].pkg < skipped[j].pkg
			}
			return skipped[i].test < skipped[j].test
		})
		fmt.Fprintf(out, "\n%d skipped tests (under CI=true a missing real component fails instead):\n", len(skipped))
		for _, k := range skipped {
			fmt.Fprintf(out, "  %s %s: %s\n", k.pkg, k.test, reason(output[k]))
		}
	} else {
		fmt.Fprintln(out, "\nno skipped tests")
	}
	if len(failed) > 0 || failedPkgs > 0 {
		fmt.Fprintf(out, "%d failed tests, %d failed packages\n", len(failed), failedPkgs)
		return 1
	}
	return 0
}

// reason is what a skipped test printed, without the RUN and SKIP lines.
func reason(lines []string) string {
	var parts []string
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		parts = append(parts, l)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " ")
}
