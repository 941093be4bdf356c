// Package lazyre compiles a package-level regular expression at its first
// use rather than at program start: a counted repetition such as {1,255}
// compiles to that many copies, and billwire mcp, which starts in every
// agent session, links every package and uses few of their expressions.
package lazyre

import (
	"regexp"
	"sync"
)

// New returns a function that compiles expr once, at its first call, and
// returns it; it panics then on a bad expression, as regexp.MustCompile
// does (the tests of each user reach every expression).
func New(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
