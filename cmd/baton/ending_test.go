// How an interrupted run's last line reads: where its checkpoint is, or that there is none to resume.

package main

import (
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
		{"before the first step", runtime.Summary{Interrupted: true}, "interrupted by interrupt before the first step: nothing was trained or saved; start the run again"},
		{"a resume before its first step", runtime.Summary{Interrupted: true, Steps: 4, StartStep: 4, Checkpoint: "run/checkpoint"},
			"interrupted by interrupt before this start trained a step; the checkpoint of step 4 in run/checkpoint is as it was (continue with --resume --out run)"},
		{"mid-run", runtime.Summary{Interrupted: true, Steps: 7, StartStep: 4, Checkpoint: "run/checkpoint"},
			"interrupted by interrupt at step 7; checkpoint saved in run/checkpoint (continue with --resume --out run)"},
	} {
		err := ending(log, &c.sum, os.Interrupt, "run")
		var in interrupted
		if !errors.As(err, &in) || in.code != 130 || !strings.Contains(in.msg, c.want) {
			t.Errorf("%s: %v, want status 130 and %q", c.name, err, c.want)
		}
	}
}
