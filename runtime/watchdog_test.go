// Tests of the watchdog: only running time counts, progress starts the count over, 0 is no limit, a negative timeout is refused.

package runtime

import (
	"errors"
	"testing"
	"time"

	"baton/internal/field"
)

// play ticks w every step from start, n times, and returns the tick on
// which it expired (0: none).
func play(w *watchdog, start time.Time, step time.Duration, n int) (time.Time, int) {
	now := start
	for i := 1; i <= n; i++ {
		now = now.Add(step)
		if w.count(now) {
			return now, i
		}
	}
	return now, 0
}

func TestWatchdogCountsOnlyRunningTime(t *testing.T) {
	w := newWatchdog(time.Second, nil)
	defer w.stop()
	if w.beat != 100*time.Millisecond {
		t.Fatalf("beat %v for a 1s limit, want 100ms", w.beat)
	}
	// Half the limit ticking, then the process stopped for a minute: the
	// gap counts as two beats, so the wait is at 0.7s, not expired.
	now, i := play(w, w.last, w.beat, 5)
	if i != 0 {
		t.Fatalf("expired after %d beats of 10", i)
	}
	now = now.Add(time.Minute)
	if w.count(now) {
		t.Fatal("a minute stopped expired the wait: it counted time the process did not run")
	}
	if w.waited != 700*time.Millisecond {
		t.Errorf("waited %v after 5 beats and a stop, want 700ms", w.waited)
	}
	// Running on, it expires on the limit: 3 more beats.
	if _, i := play(w, now, w.beat, 10); i != 3 {
		t.Errorf("expired %d beats after the stop, want 3", i)
	}
}

func TestWatchdogStartsOverOnProgress(t *testing.T) {
	var moves int64
	w := newWatchdog(time.Second, func() int64 { return moves })
	defer w.stop()
	now, _ := play(w, w.last, w.beat, 9)
	moves++ // a device went on to its next action: the wait so far was no stall
	if _, i := play(w, now, w.beat, 20); i != 11 {
		t.Errorf("after progress at 0.9s the wait expired on beat %d, want 11 (the progress beat, then 10 more)", i)
	}
}

func TestWatchdogWithoutLimitNeverTicks(t *testing.T) {
	w := newWatchdog(0, nil)
	defer w.stop()
	if w.C() != nil {
		t.Fatal("a watchdog with no limit has a heartbeat")
	}
	if _, i := play(w, w.last, time.Hour, 100); i != 0 {
		t.Errorf("a watchdog with no limit expired on tick %d", i)
	}
}

func TestNegativeTimeoutIsRefused(t *testing.T) {
	cfg := resumeConfig(t, "", t.TempDir(), "cpu:0,cpu:1", 2)
	cfg.Timeout = -time.Second
	err := cfg.Validate()
	var fe *field.Error
	if !errors.As(err, &fe) || fe.Field != "timeout" {
		t.Fatalf("Validate with Timeout -1s: %v; want an error naming the timeout field", err)
	}
	cfg.Timeout = 0
	if err := cfg.Validate(); err != nil {
		t.Errorf("Validate with Timeout 0 (no limit): %v", err)
	}
}
