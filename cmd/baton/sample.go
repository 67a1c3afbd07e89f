// baton sample: generate text from a checkpoint.

package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"baton/runtime"
)

func sampleCmd() *cobra.Command {
	var c runtime.SampleConfig
	var from string
	cmd := &cobra.Command{
		Use:     "sample",
		Short:   "Generate text from a trained model (byte-level or GPT-2 tokens)",
		Example: `  baton sample --from runs/mine --prompt "func main"`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return usage(fmt.Errorf("--from is required: a run directory or a checkpoint directory"))
			}
			if err := c.Validate(); err != nil {
				return usage(err)
			}
			c.Checkpoint = from
			// A run directory; its checkpoint may be only checkpoint.old,
			// after a save was interrupted.
			for _, dir := range []string{runtime.CheckpointDir(from), runtime.CheckpointDir(from) + ".old"} {
				if _, err := os.Stat(dir); err == nil {
					c.Checkpoint = runtime.CheckpointDir(from)
				}
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			c.Warn = func(msg string) { log.Warn(msg) }
			out := cmd.OutOrStdout()
			if term.IsTerminal(int(os.Stdout.Fd())) { // out writes to it
				out = terminalText{out}
			}
			if err := runtime.Sample(c, out); err != nil {
				return err
			}
			fmt.Fprintln(out)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", "", "run directory (or checkpoint directory) to load")
	fl.StringVar(&c.Prompt, "prompt", "", "text to continue")
	fl.IntVar(&c.Tokens, "tokens", 256, "tokens to generate (bytes, for a byte-level model)")
	fl.Float64Var(&c.Temperature, "temperature", 0.8, "softmax temperature (0: always the most likely token)")
	fl.IntVar(&c.TopK, "top-k", 40, "sample among the k most likely tokens (0: all)")
	fl.Uint64Var(&c.Seed, "seed", 1, "sampling seed")
	return cmd
}
