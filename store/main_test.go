package store

import (
	"fmt"
	"os"
	"testing"

	"github.com/artifact-trust/control-plane/internal/testparallel"
)

// testParallel is how many parallel tests of this package run at once unless
// -test.parallel says otherwise (the default is GOMAXPROCS, 2 on a small CI
// machine). Each test waits on its engine for every round trip, so a few more
// than the cores keep them busy; measured on 2 cores, the package took 24-26s at
// 4 against 26-29s at 2.
const testParallel = 4

// TestMain opens every embedded engine of this package's tests without fsync per
// commit (embeddedNoSync): the tests simulate process crashes, which keep every
// committed write anyway, and not power loss; the fsyncs only made them wait.
func TestMain(m *testing.M) {
	embeddedNoSync = true
	if err := testparallel.Default(testParallel); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}
