// Command baton trains GPT-style decoders split layer-wise over devices and
// measures how long every device computes, waits and idles.
package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"baton/internal/field"
	"baton/kernels/cpu"
	"baton/runtime"
)

// usageError marks a bad flag or configuration: exit status 2, as for a
// flag the parser rejects.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usage(err error) error {
	if err == nil {
		return nil
	}
	return usageError{err}
}

// flagName is how the CLI names a configuration field in a message: by its
// flag, which has the field's name (the lower layers name fields, not flags).
func flagName(f string) string {
	if file, ok := setBy[f]; ok {
		return fmt.Sprintf("--%s (set by %s)", f, file)
	}
	return "--" + f
}

// flagNames names fields for one message as flagName does, saying which
// file set a field once only: "--steps (set by run.json) 10; raise
// --steps", not the file twice. Once is the first naming field.Render
// makes, an error's own fields before those of the error it wraps, which
// is the first in the text but where an error's words follow its %w.
func flagNames() func(string) string {
	said := map[string]bool{}
	return func(f string) string {
		if said[f] {
			return "--" + f
		}
		said[f] = true
		return flagName(f)
	}
}

// setBy names, for each setting that a configuration file rather than the
// command line gave (--config's file, or run.json on a resume), that file,
// so that an error about the setting does not send the user to a flag they
// never typed. One command runs per process: settle fills it once.
var setBy = map[string]string{}

// noArgs refuses positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error { return usage(cobra.NoArgs(cmd, args)) }

// errWriter passes writes on to w until one fails and keeps that error,
// refusing every write after it, so that output a command prints without
// checking (fmt.Fprint*) cannot be lost unseen: main and --cpuprofile ask
// for it at the end, and nothing is written after a part that was lost.
type errWriter struct {
	mu  sync.Mutex // launch writes its ranks' lines from several goroutines
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

// Err is the error of the first write that failed, or nil.
func (e *errWriter) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.err
}

// stdoutFailed is the error of a command whose output could not all be
// written to stdout (a full disk, a closed pipe), said in one way whether the
// command printed it unchecked or returned the write's error itself.
func stdoutFailed(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // "write /dev/stdout: ...": the file's name says nothing more
	}
	return fmt.Errorf("write stdout: %w", err)
}

func main() {
	root := &cobra.Command{
		Use:   "baton",
		Short: "Train GPT-style decoders split layer-wise across devices, and measure every device's idle time",
		Long: `baton trains GPT-2 style transformer decoders split layer-wise into stages,
one per device, and measures how long each device computes, waits on its
neighbours and sits idle. Without a GPU it runs on virtual CPU devices
(cpu:0,cpu:1,...); the -tags cuda build adds cuda:N devices.`,
		Version:       runtime.Version().String(),
		SilenceUsage:  true,
		SilenceErrors: true,
		// A BATON_CPU this machine cannot honour is a bad setting, said
		// in one line before any command starts.
		PersistentPreRunE: func(*cobra.Command, []string) error {
			if err := cpu.EnvError(); err != nil {
				return usage(err)
			}
			return nil
		},
	}
	root.SetVersionTemplate("baton {{.Version}}\n") // as baton version prints it
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usage(err) })
	root.AddCommand(trainCmd(), sampleCmd(), tokenizeCmd(), planCmd(), scheduleCmd(), devicesCmd(), benchCmd(), versionCmd())
	root.AddCommand(launchCmd(), launchProbeCmd())
	// cobra's completion command, not runnable, prints its help and
	// succeeds on a shell it does not know; runnable, it refuses one.
	root.InitDefaultCompletionCmd()
	if c, _, err := root.Find([]string{"completion"}); err == nil && c.Name() == "completion" {
		c.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	}
	// Commands print to cmd.OutOrStdout(), this writer: output lost there
	// fails the command, however it was printed.
	stdout := &errWriter{w: os.Stdout}
	root.SetOut(stdout)
	err := root.Execute()
	if werr := stdout.Err(); werr != nil && (err == nil || errors.Is(err, werr)) {
		err = stdoutFailed(werr)
	}
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "baton:", field.Render(err, flagNames()))
	var ue usageError
	var ie interrupted
	var ce *runtime.ConfigError
	switch {
	case errors.As(err, &ie):
		os.Exit(ie.code)
	case runtime.LostRank(err):
		os.Exit(lostRankStatus)
	case errors.As(err, &ue), errors.As(err, &ce):
		os.Exit(2)
	case strings.HasPrefix(err.Error(), "unknown command"):
		os.Exit(2) // cobra's own error for a command that does not exist
	default:
		os.Exit(1)
	}
}
