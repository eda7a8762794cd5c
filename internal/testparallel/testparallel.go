// Package testparallel sets how many parallel tests of a package run at once, for
// test packages whose tests mostly wait (on engines, processes, timeouts) rather
// than compute: their TestMain calls Default before m.Run.
package testparallel

import (
	"flag"
	"fmt"
	"runtime"
)

// Default parses the test flags and sets -test.parallel to max(n, GOMAXPROCS),
// unless -test.parallel was given or the run fuzzes (where -test.parallel also
// sets the number of fuzz workers).
func Default(n int) error {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) {
		set = set || f.Name == "test.parallel" || (f.Name == "test.fuzz" && f.Value.String() != "")
	})
	if set {
		return nil
	}
	return flag.Set("test.parallel", fmt.Sprint(max(n, runtime.GOMAXPROCS(0))))
}
