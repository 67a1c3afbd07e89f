// What baton bench prints when its sweep has no headline.

package main

import (
	"strings"
	"testing"
)

// TestBenchWithoutHeadline: a sweep of one device has no headline, and its
// last line says what ran instead of leaving a blank.
func TestBenchWithoutHeadline(t *testing.T) {
	t.Parallel()
	r := baton(t, t.TempDir(), "bench", "--quick", "--steps=1", "--devices-max=1", "--schedules=naive", "--data", corpus, "--out", "results")
	if r.code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "\nbench: 1 of 1 points ran in ") || strings.Contains(r.stdout, "bench:  ") {
		t.Errorf("stdout does not say how many points ran:\n%s", r.stdout)
	}
}
