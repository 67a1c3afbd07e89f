// baton tokenize: text files to llm.c shards of GPT-2 tokens, with a progress bar.

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"baton/data"
	"baton/internal/field"
	"baton/internal/words"
)

func tokenizeCmd() *cobra.Command {
	c := data.TokenizeConfig{}
	cmd := &cobra.Command{
		Use:   "tokenize [INPUT...]",
		Short: "Encode text files with GPT-2's BPE into llm.c token shards that train reads",
		Long: `tokenize encodes text files (and the text files under directories) with
GPT-2's byte-pair encoding and writes llm.c token shards to --out:
val_000000.bin holds the first --val-fraction of the tokens, train_NNNNNN.bin
the rest. Each file is one document; the end-of-text token 50256 starts every
document. Without INPUT it encodes the default corpus, the Go sources.`,
		Example: `  baton tokenize --out shards/go                 # the Go standard library sources
  baton tokenize --out shards/shakespeare input.txt
  baton train --model gpt2-124m --data shards/go`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c.Inputs = args
			return runTokenize(cmd, c)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&c.Tokenizer, "tokenizer", "gpt2", "tokenizer: gpt2 (GPT-2's BPE, tiktoken's r50k_base, built in)")
	fl.StringVar(&c.Out, "out", "", "directory to write the shards to (created if missing; must hold no .bin files)")
	fl.Float64Var(&c.ValFraction, "val-fraction", 0.05, "share of the tokens written as the validation shard, in [0, 1) (0: none; train then splits the training shards)")
	return cmd
}

// readOnce refuses an input given twice, or inside a directory also
// given: its text would be in the shards twice. Each path is resolved
// once and its parents looked up, so a glob of thousands of files costs
// no more than listing them.
func readOnce(inputs []pathFlag) error {
	seen := map[string]string{} // resolved path → the input as given
	paths := make([]string, len(inputs))
	for i, in := range inputs {
		paths[i] = resolved(in.path)
		if before, ok := seen[paths[i]]; ok {
			return fmt.Errorf("INPUT %s and %s name the same text: give each once", before, in.path)
		}
		seen[paths[i]] = in.path
	}
	for i, in := range inputs {
		for dir := filepath.Dir(paths[i]); dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
			if holder, ok := seen[dir]; ok {
				return fmt.Errorf("INPUT %s lies inside INPUT %s: give each text once", in.path, holder)
			}
		}
	}
	return nil
}

func runTokenize(cmd *cobra.Command, c data.TokenizeConfig) error {
	if err := c.Validate(); err != nil {
		return usage(err)
	}
	inputs := make([]pathFlag, len(c.Inputs))
	for i, in := range c.Inputs {
		inputs[i] = pathFlag{"INPUT", in, isDir(in)}
	}
	if err := readOnce(inputs); err != nil {
		return usage(err)
	}
	if err := checkOutputs([]pathFlag{{"--out", c.Out, true}}, inputs); err != nil {
		return usage(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// The second signal exits at once: shards being written stay in the
	// staging directory, which is then named so that it can be removed.
	ctx, sig, release := onStopSignal(log, "stopping; no shard is written", func() string {
		return fmt.Sprintf("no shard was written to %s; remove %s if it is there (partial shards)", c.Out, data.StagingDir(c.Out))
	})
	defer release()
	bar := newByteBar()
	c.Progress = bar.update
	start := time.Now()
	res, err := data.Tokenize(ctx, c)
	bar.stop(err == nil)
	s := sig()
	switch {
	case s != nil && errors.Is(err, context.Canceled):
		return interrupted{exitCode(s), fmt.Sprintf("tokenize: stopped by %s; no shard was written", sigName(s))}
	case s != nil && err != nil: // it failed on its own as the signal came: the failure is what to say
		return fmt.Errorf("%w (%s came meanwhile; no shard was written)", err, sigName(s))
	}
	if s != nil {
		log.Warn("the signal came as the shards were moved into place: they are complete and kept", "signal", sigName(s))
	}
	var fe *field.Error
	if errors.As(err, &fe) {
		return usage(err)
	}
	if err != nil {
		return err
	}
	secs := time.Since(start).Seconds()
	n := res.TrainTokens + res.ValTokens
	fmt.Fprintf(cmd.OutOrStdout(), "%s, %d bytes: %d training and %d validation tokens in %s in %s (%.0f tokens/s)\n",
		words.Count(res.Documents, "document"), res.Bytes, res.TrainTokens, res.ValTokens, words.Count(len(res.Shards), "shard"), c.Out, float64(n)/secs)
	return nil
}

// byteBar shows bytes tokenized and tokens/s on a terminal, and nothing
// elsewhere: the summary line on stdout says it all at the end.
type byteBar struct {
	bar   *progressbar.ProgressBar
	start time.Time
}

func newByteBar() *byteBar {
	return &byteBar{start: time.Now()}
}

func (b *byteBar) update(done, total, tokens int64) {
	if b.bar == nil {
		if !term.IsTerminal(int(os.Stderr.Fd())) {
			return
		}
		b.bar = progressbar.NewOptions64(total, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowBytes(true), progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionSetWidth(24))
	}
	b.bar.Describe(fmt.Sprintf("%.0f tok/s", float64(tokens)/time.Since(b.start).Seconds()))
	b.bar.Set64(done)
}

// stop ends the bar: filled when the work is done, cleared otherwise, so
// that an interrupted run does not show 100%.
func (b *byteBar) stop(done bool) {
	if b.bar == nil {
		return
	}
	if done {
		b.bar.Finish()
		fmt.Fprintln(os.Stderr)
		return
	}
	b.bar.Clear()
}
