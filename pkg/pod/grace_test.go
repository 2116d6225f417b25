package pod

import (
	"math"
	"testing"
	"time"
)

// TestGracePeriodSaturates: a terminationGracePeriodSeconds of 9223372037 or more overflows
// seconds × 1e9 into a negative duration (an immediate SIGKILL); it saturates instead.
func TestGracePeriodSaturates(t *testing.T) {
	for _, tc := range []struct {
		seconds int64
		want    time.Duration
	}{
		{-1, 0},
		{0, 0},
		{30, 30 * time.Second},
		{9223372036, 9223372036 * time.Second}, // the longest that fits
		{9223372037, math.MaxInt64},            // the first that overflows
		{math.MaxInt64, math.MaxInt64},
	} {
		if got := GracePeriod(tc.seconds); got != tc.want {
			t.Errorf("GracePeriod(%d) = %v, want %v", tc.seconds, got, tc.want)
		}
	}
}
