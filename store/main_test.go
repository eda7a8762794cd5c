package store

import (
	"os"
	"testing"
)

// TestMain opens every embedded engine of this package's tests without fsync per
// commit (embeddedNoSync): the tests simulate process crashes, which keep every
// committed write anyway, and not power loss; the fsyncs only made them wait.
func TestMain(m *testing.M) {
	embeddedNoSync = true
	os.Exit(m.Run())
}
