// What baton bench prints for a sweep of one point: no headline, and its counts in the singular.

package main

import (
	"strings"
	"testing"
)

// TestBenchWithoutHeadline: a sweep of one device has no headline, and its
// last line says what ran instead of leaving a blank; its first says
// 1 point and 1 measured step, not 1 points and 1 measured steps.
func TestBenchWithoutHeadline(t *testing.T) {
	t.Parallel()
	r := baton(t, t.TempDir(), "bench", "--quick", "--steps=1", "--devices-max=1", "--schedules=naive", "--data", corpus, "--out", "results")
	if r.code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", r.code, r.stderr)
	}
	if !strings.Contains(r.stdout, "\nbench: 1 of 1 points ran in ") || strings.Contains(r.stdout, "bench:  ") {
		t.Errorf("stdout does not say how many points ran:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, ", 1 point, 1 measured step each\n") {
		t.Errorf("stdout does not say 1 point, 1 measured step each:\n%s", r.stdout)
	}
}
