// Tokenize: text files to llm.c token shards of GPT-2 tokens, one document per file.

package data

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"

	"baton/internal/field"
	"baton/internal/fsutil"
)

// ShardTokens is how many tokens a training shard holds at most, as in
// llm.c's data scripts (10^8: 200 MB a shard).
const ShardTokens = 100_000_000

// TokenizeConfig says what to tokenize and where to write the shards.
type TokenizeConfig struct {
	Tokenizer   string   // only "gpt2"
	Inputs      []string // text files and directories; none: the default corpus
	Out         string   // directory for the shards; created if missing
	ValFraction float64  // share of the tokens written as validation, in [0, 1)
	// Progress, when set, is told after each document how many of the
	// total input bytes have been tokenized, and into how many tokens.
	Progress func(done, total, tokens int64)
}

// TokenizeResult says what Tokenize read and wrote.
type TokenizeResult struct {
	Documents   int
	Bytes       int64
	TrainTokens int
	ValTokens   int
	Shards      []string // paths written: validation first, then training
}

// Validate checks the settings; its error is a *field.Error naming the field.
func (c TokenizeConfig) Validate() error {
	switch {
	case c.Tokenizer != "gpt2":
		return field.Errorf("tokenizer", "tokenize: unknown {tokenizer} %q; the one known is gpt2 (GPT-2's BPE, r50k_base)", c.Tokenizer)
	case !(c.ValFraction >= 0 && c.ValFraction < 1):
		return field.Errorf("val-fraction", "tokenize: {val-fraction} is %g; it must be at least 0 and below 1 (0: no validation shard)", c.ValFraction)
	case c.Out == "":
		return field.Errorf("out", "tokenize: {out} is required: the directory to write the shards to")
	}
	return nil
}

// Tokenize encodes every document of cfg.Inputs with GPT-2's BPE and writes
// the tokens as llm.c shards in cfg.Out: val_000000.bin holds the first
// cfg.ValFraction of the tokens (llm.c puts validation first too) and
// train_NNNNNN.bin the rest, ShardTokens a file. A document is one file:
// EndOfText starts each, as llm.c's fineweb script does, so it also stands
// between any two. Directories are walked as training reads them (sorted,
// hidden entries, links and binary files skipped). All tokens are held in
// memory (2 bytes each) and the shards written at the end, so an
// interrupted run (ctx cancelled) writes nothing.
func Tokenize(ctx context.Context, cfg TokenizeConfig) (TokenizeResult, error) {
	var res TokenizeResult
	if err := cfg.Validate(); err != nil {
		return res, err
	}
	docs, err := documents(cfg.Inputs)
	if err != nil {
		return res, err
	}
	if err := checkOut(cfg.Out); err != nil {
		return res, err
	}
	res.Documents = len(docs)
	for _, d := range docs {
		res.Bytes += d.size
	}
	var progress func(done, tokens int64)
	if cfg.Progress != nil {
		progress = func(done, tokens int64) { cfg.Progress(done, res.Bytes, tokens) }
	}
	ts, err := encodeAll(ctx, NewGPT2(), docs, progress)
	if err != nil {
		return res, err
	}
	nv := int(math.Ceil(cfg.ValFraction * float64(len(ts))))
	if len(ts)-nv < 1 {
		return res, field.Errorf("val-fraction", "tokenize: %d tokens leave none for training at {val-fraction} %g; give more text or a smaller {val-fraction}", len(ts), cfg.ValFraction)
	}
	res.ValTokens, res.TrainTokens = nv, len(ts)-nv
	if err := fsutil.ProbeDir(cfg.Out); err != nil {
		return res, field.Errorf("out", "tokenize: {out} %s: %w", cfg.Out, err)
	}
	if nv > 0 {
		p := filepath.Join(cfg.Out, "val_000000.bin")
		if err := WriteShard(p, ts[:nv]); err != nil {
			return res, err
		}
		res.Shards = append(res.Shards, p)
	}
	for i, at := 0, nv; at < len(ts); i, at = i+1, at+ShardTokens {
		p := filepath.Join(cfg.Out, fmt.Sprintf("train_%06d.bin", i))
		if err := WriteShard(p, ts[at:min(at+ShardTokens, len(ts))]); err != nil {
			return res, err
		}
		res.Shards = append(res.Shards, p)
	}
	return res, nil
}

// documents lists the files of inputs in order; none means the default corpus.
func documents(inputs []string) ([]textFile, error) {
	if len(inputs) == 0 {
		root, err := DefaultTextPath()
		if err != nil {
			return nil, err
		}
		inputs = []string{root}
	}
	var docs []textFile
	for _, in := range inputs {
		fi, err := os.Stat(in)
		if err != nil {
			return nil, missing(in, err)
		}
		if fi.IsDir() {
			files, skipped, err := walkText(in)
			if err != nil {
				return nil, err
			}
			if len(files) == 0 {
				return nil, fmt.Errorf("data: %s has no text files to tokenize (%s)", in, skipped)
			}
			docs = append(docs, files...)
			continue
		}
		if err := checkTextFile(in, fi); err != nil {
			return nil, err
		}
		docs = append(docs, textFile{in, fi.Size()})
	}
	return docs, nil
}

// checkTextFile refuses a file named directly that is not text.
func checkTextFile(path string, fi fs.FileInfo) error {
	switch {
	case !fi.Mode().IsRegular():
		return fmt.Errorf("data: %s is not a regular file or a directory", path)
	case fi.Size() == 0:
		return fmt.Errorf("data: %s is empty; give a file that holds text", path)
	case strings.EqualFold(filepath.Ext(path), ".bin"):
		return fmt.Errorf("data: %s is a .bin file, which baton reads as llm.c token shards; it is tokenized already", path)
	}
	why, err := sniff(path, fi.Size(), make([]byte, sniffLen))
	if err != nil {
		return err
	}
	if why != "" {
		return fmt.Errorf("data: %s looks binary (%s); give text files or directories of them", path, why)
	}
	return nil
}

// checkOut refuses, before the long work of encoding, an output directory
// that already holds shards (training would read the old ones with the
// new) or that cannot be made because a file stands in its way. It makes
// nothing: a refused run leaves no directory behind.
func checkOut(out string) error {
	fi, err := os.Stat(out)
	switch {
	case err != nil:
		// Missing, or a file stands where a parent directory should.
		for p := filepath.Dir(out); p != filepath.Dir(p); p = filepath.Dir(p) {
			if fi, serr := os.Stat(p); serr == nil && !fi.IsDir() {
				return field.Errorf("out", "tokenize: {out} %s lies under %s, which is a file; give a directory to write the shards to", out, p)
			}
		}
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return field.Errorf("out", "tokenize: {out} %s: %v", out, err)
	case !fi.IsDir():
		return field.Errorf("out", "tokenize: {out} %s is a file; give a directory to write the shards to", out)
	}
	bins, err := binFiles(out)
	if err != nil {
		return err
	}
	if len(bins) > 0 {
		return field.Errorf("out", "tokenize: {out} %s already holds %d .bin shards (%s); training would read the old ones with the new: give an empty or new directory",
			out, len(bins), filepath.Base(bins[0]))
	}
	return nil
}
