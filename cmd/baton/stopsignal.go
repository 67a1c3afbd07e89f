// Stop signals: the first finishes the work in hand and saves, a second exits at once, and the exit status names the signal.

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"baton/model"
	"baton/runtime"
)

// interrupted is the error of a run stopped by a signal, with its exit status.
type interrupted struct {
	code int
	msg  string
}

func (e interrupted) Error() string { return e.msg }

// stopSignals end a run as Ctrl-C does: SIGTERM is how kill and job
// schedulers stop it, SIGHUP how a closed terminal or SSH session does.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// sameStop is how soon after the first stop signal another counts as the
// same stop rather than a second: timeout(1) sends its signal to the
// command and then to its whole process group, which holds the command,
// so one timeout delivers two at once (microseconds apart); a person
// pressing Ctrl-C twice takes far longer.
const sameStop = 250 * time.Millisecond

// onStopSignal returns a context that the first stop signal cancels, after
// a warning that says what happens now (doing); a second signal (sameStop
// after it or later) exits at once with 128+the second's number, as a
// process killed by it would, saying what is
// left (left, asked then). sig is the first
// signal, nil before one. release says the work the context guards is over
// and the process is ending (closing devices and links, printing its
// result): stop signals stay caught to the end, and a first one from then
// on is let pass, so that a launcher's SIGTERM, sent once another rank
// failed, cannot kill this one before it says why it failed; a second still
// exits at once.
func onStopSignal(log *slog.Logger, doing string, left func() string) (ctx context.Context, sig func() os.Signal, release func()) {
	// The terminal that sent SIGHUP is gone, and so may be a pipe that
	// stderr goes through (| tee): a warning written there must fail
	// with EPIPE, not kill the process before it saves.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, stopSignals...)
	// One lock for the first signal and the ending: a signal is either
	// recorded before release, and sig returns it, or comes after it.
	var (
		mu     sync.Mutex
		first  os.Signal
		ending bool
	)
	go func() {
		s := <-sigs
		at := time.Now() // before the warning, whose write may block on a stalled stderr
		stopping.Store(true)
		mu.Lock()
		stopped := !ending
		if stopped {
			first = s
		}
		mu.Unlock()
		if stopped {
			log.Warn("signal: "+doing+"; send it again to exit at once", "signal", sigName(s))
			stop()
		}
		second := awaitSecond(sigs, at)
		fmt.Fprintf(os.Stderr, "baton: second signal, exiting now; %s\n", left())
		os.Exit(exitCode(second))
	}()
	sig = func() os.Signal {
		mu.Lock()
		defer mu.Unlock()
		return first
	}
	return ctx, sig, func() {
		mu.Lock()
		ending = true
		mu.Unlock()
		stop()
	}
}

// onSignalWhileStarting exits at a stop signal that comes while a run
// starts (joining its ranks, reading its data and checkpoint, allocating),
// saying that nothing was trained or saved, rather than dying silently as
// an uncaught signal does. undo runs first: os.Exit skips the caller's
// deferred calls, and the run lock's release among them is what removes
// the directories the start made. started hands the signals over to the
// run's own handling, onStopSignal, which must be installed first: a
// signal that comes after started is the run's alone.
func onSignalWhileStarting(undo func()) (started func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, stopSignals...)
	var (
		mu   sync.Mutex
		over bool
	)
	go func() {
		for s := range sigs {
			mu.Lock()
			if !over {
				undo()
				fmt.Fprintf(os.Stderr, "baton: interrupted by %s while starting: nothing was trained or saved\n", sigName(s))
				os.Exit(exitCode(s))
			}
			mu.Unlock()
		}
	}()
	return func() {
		mu.Lock()
		over = true
		mu.Unlock()
		signal.Stop(sigs) // after which nothing is sent on sigs
		close(sigs)
	}
}

// stopping says that a stop signal came: the run is stopping, and a
// rank that then finds its launcher gone (stopForLauncher) must not send
// itself another, which would count as the second and exit unsaved.
var stopping atomic.Bool

// awaitSecond returns the signal that comes on sigs sameStop or more after
// the first (at first): any sooner is the same stop.
func awaitSecond(sigs <-chan os.Signal, first time.Time) os.Signal {
	for s := range sigs {
		if time.Since(first) >= sameStop {
			return s
		}
	}
	return nil
}

// sigName names a stop signal as a shell user knows it: SIGINT, not
// "interrupt".
func sigName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

// exitCode is the shell's status for a signal: 128 + its number.
func exitCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return 1
}

// ending is how a run that returned sum ends: sig is the stop signal this
// process got, if any.
func ending(log *slog.Logger, sum *runtime.Summary, sig os.Signal, out string) error {
	switch {
	case sum.Interrupted && sig == nil && sum.Checkpoint == "":
		log.Info("stopped before the first step with the other ranks, one of which was interrupted: nothing was trained or saved")
	case sum.Interrupted && sig == nil:
		// Another rank was interrupted and this one stopped at the same
		// step, as agreed, having done its part: not a failure of its own.
		log.Info(fmt.Sprintf("stopped at step %d with the other ranks, one of which was interrupted; checkpoint saved in %s (continue with --resume --out %s)", sum.Steps, sum.Checkpoint, out))
	case sum.Interrupted && sum.Checkpoint == "":
		return interrupted{exitCode(sig), fmt.Sprintf("interrupted by %s before the first step: nothing was trained or saved; start the run again", sigName(sig))}
	case sum.Interrupted && sum.Steps == sum.StartStep:
		return interrupted{exitCode(sig), fmt.Sprintf("interrupted by %s before this start trained a step; the checkpoint of step %d in %s is as it was (continue with --resume --out %s)", sigName(sig), sum.Steps, sum.Checkpoint, out)}
	case sum.Interrupted:
		return interrupted{exitCode(sig), fmt.Sprintf("interrupted by %s at step %d; checkpoint saved in %s (continue with --resume --out %s)", sigName(sig), sum.Steps, sum.Checkpoint, out)}
	case sig != nil:
		// The signal came after the last step, while ranks evaluated
		// together (they agree on stopping only between steps): the run is
		// whole, and the status still says it was interrupted.
		return interrupted{exitCode(sig), fmt.Sprintf("interrupted by %s after the last step, %d: the run is complete; checkpoint saved in %s", sigName(sig), sum.Steps, sum.Checkpoint)}
	}
	return nil
}

// checkpointLeft says what a run in out that exits at once leaves to resume.
func checkpointLeft(out string) string {
	if model.HasRunCheckpoint(out) {
		return fmt.Sprintf("the last complete checkpoint, in %s, is intact (continue with --resume --out %s)", runtime.CheckpointDir(out), out)
	}
	return "no checkpoint was saved yet, so nothing of this run can be resumed: start it again"
}
