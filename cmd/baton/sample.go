// baton sample: generate text from a checkpoint.

package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"baton/internal/fsutil"
	"baton/model"
	"baton/runtime"
)

func sampleCmd() *cobra.Command {
	var c runtime.SampleConfig
	var from, promptFile string
	cmd := &cobra.Command{
		Use:   "sample",
		Short: "Generate text from a trained model (byte-level or GPT-2 tokens)",
		Example: `  baton sample --from runs/mine --prompt "func main"
  git show HEAD:main.go | baton sample --from runs/mine --prompt-file -`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return usage(fmt.Errorf("--from is required: a run directory or a checkpoint directory"))
			}
			if err := c.Validate(); err != nil {
				return usage(err)
			}
			if promptFile != "" {
				if cmd.Flags().Changed("prompt") {
					return usage(fmt.Errorf("--prompt and --prompt-file both give the prompt; give one of them"))
				}
				p, err := readPrompt(promptFile)
				if err != nil {
					return err
				}
				c.Prompt = string(p)
			}
			if err := runtime.NoCheckpointYet("from", from); err != nil {
				return err
			}
			c.Checkpoint = from
			if model.HasRunCheckpoint(from) { // a run directory (its checkpoint may be only the .old of an interrupted save)
				c.Checkpoint = runtime.CheckpointDir(from)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			c.Warn = func(msg string) { log.Warn(msg) }
			c.Notice = func(msg string) { log.Info(msg) }
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
	fl.StringVar(&promptFile, "prompt-file", "", "read the text to continue from this file, exactly (- for standard input)")
	fl.IntVar(&c.Tokens, "tokens", 256, "tokens to generate (bytes, for a byte-level model); fewer where a GPT-2 model ends the text")
	fl.BoolVar(&c.IgnoreEOS, "ignore-eos", false, "go on past GPT-2's <|endoftext|> (by default it ends the text, as in Hugging Face's generate)")
	fl.Float64Var(&c.Temperature, "temperature", 0.8, "softmax temperature (0: always the most likely token)")
	fl.IntVar(&c.TopK, "top-k", 40, "sample among the k most likely tokens (0: all)")
	fl.Float64Var(&c.TopP, "top-p", 1, "then among the fewest most likely tokens whose probability reaches p (nucleus sampling; 1: all)")
	fl.Uint64Var(&c.Seed, "seed", 1, "sampling seed")
	return cmd
}

// maxPrompt bounds a prompt read from a file: a model sees its context's
// last tokens only, and a path to a large file by mistake must not fill
// the memory.
const maxPrompt = 16 << 20

// readPrompt is --prompt-file's text: path's bytes, or standard input's
// for "-", as they are (no newline dropped).
func readPrompt(path string) ([]byte, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, _, err := fsutil.OpenRegular(path)
		if err != nil {
			return nil, fmt.Errorf("--prompt-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxPrompt+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("--prompt-file %s: %w", path, err)
	case len(b) > maxPrompt:
		return nil, usage(fmt.Errorf("--prompt-file %s is over %s; a model sees only its context's last tokens: give the end of the text", path, model.HumanBytes(maxPrompt)))
	}
	return b, nil
}
