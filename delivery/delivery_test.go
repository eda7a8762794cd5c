package delivery

import (
	"testing"
	"time"
)

func TestBackoffDoublesWithJitterUpToTheMaximum(t *testing.T) {
	lo, hi := 5*time.Second, time.Hour
	for n := 1; n < 200; n++ {
		want := hi
		if n < 20 {
			want = min(lo<<(n-1), hi)
		}
		for range 50 {
			d := backoff(n, lo, hi)
			if d > want || d < want/2 {
				t.Fatalf("attempt %d: %s, want within [%s, %s]", n, d, want/2, want)
			}
		}
	}
}
