package config

import (
	"regexp"
	"sync"
)

// lazyRegexp is a regular expression compiled on first use, not at
// package initialisation: every command links config, most never
// validate a config, and compiling these (the {0,251} repetitions above
// all) cost every process about 0.8 MB and 4.7k allocations at start-up.
// A bad expression still panics, at its first use; TestLazyRegexps uses
// each of them.
type lazyRegexp struct {
	expr string
	re   func() *regexp.Regexp
}

func lazyRE(expr string) *lazyRegexp {
	return &lazyRegexp{expr: expr, re: sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })}
}

// MatchString is regexp.Regexp.MatchString.
func (l *lazyRegexp) MatchString(s string) bool { return l.re().MatchString(s) }

// FindStringSubmatch is regexp.Regexp.FindStringSubmatch.
func (l *lazyRegexp) FindStringSubmatch(s string) []string { return l.re().FindStringSubmatch(s) }
