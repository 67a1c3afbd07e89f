// How an interrupted run's last line reads: where its checkpoint is, or that there is none to resume.

package main

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"

	"baton/runtime"
)

func TestEndingNamesWhatCanResume(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, c := range []struct {
		name string
		sum  runtime.Summary
		want string
	}{
		{"before the first step", runtime.Summary{Interrupted: true}, "interrupted by SIGINT before the first step: nothing was trained or saved; start the run again"},
		{"a resume before its first step", runtime.Summary{Interrupted: true, Steps: 4, StartStep: 4, Checkpoint: "run/checkpoint"},
			"interrupted by SIGINT before this start trained a step; the checkpoint of step 4 in run/checkpoint is as it was (continue with --resume --out run)"},
		{"mid-run", runtime.Summary{Interrupted: true, Steps: 7, StartStep: 4, Checkpoint: "run/checkpoint"},
			"interrupted by SIGINT at step 7; checkpoint saved in run/checkpoint (continue with --resume --out run)"},
	} {
		err := ending(log, &c.sum, os.Interrupt, "run")
		var in interrupted
		if !errors.As(err, &in) || in.code != 130 || !strings.Contains(in.msg, c.want) {
			t.Errorf("%s: %v, want status 130 and %q", c.name, err, c.want)
		}
	}
}

// TestEndingOfARankStoppedWithTheOthers: a rank not signalled itself, stopped
// with the others, says where its checkpoint is, or that none was saved.
func TestEndingOfARankStoppedWithTheOthers(t *testing.T) {
	for _, c := range []struct {
		sum  runtime.Summary
		want string
	}{
		{runtime.Summary{Interrupted: true}, "stopped before the first step with the other ranks, one of which was interrupted: nothing was trained or saved"},
		{runtime.Summary{Interrupted: true, Steps: 7, Checkpoint: "run/checkpoint"}, "stopped at step 7 with the other ranks, one of which was interrupted; checkpoint saved in run/checkpoint"},
	} {
		var logged bytes.Buffer
		if err := ending(slog.New(slog.NewTextHandler(&logged, nil)), &c.sum, nil, "run"); err != nil || !strings.Contains(logged.String(), c.want) {
			t.Errorf("%+v: %v, logged %q; want no error and %q", c.sum, err, logged.String(), c.want)
		}
	}
}
