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
// memory (2 bytes each); the shards are written at the end into
// StagingDir(cfg.Out) and only then moved into cfg.Out (see commit), so a
// run cancelled, failed or killed before that leaves no shard in cfg.Out.
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
	stage := StagingDir(cfg.Out)
	if err := probeOut(cfg.Out, stage); err != nil {
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
	ts, err := encodeAll(ctx, NewGPT2(), docs, pieceBytes, progress)
	if err != nil {
		return res, err
	}
	nv := int(math.Ceil(cfg.ValFraction * float64(len(ts))))
	if len(ts)-nv < 1 {
		return res, field.Errorf("val-fraction", "tokenize: %d tokens leave none for training at {val-fraction} %g; give more text or a smaller {val-fraction}", len(ts), cfg.ValFraction)
	}
	res.ValTokens, res.TrainTokens = nv, len(ts)-nv
	names, err := writeShards(ctx, stage, ts, nv)
	if err == nil {
		err = commit(stage, cfg.Out, names)
	}
	if err != nil {
		os.RemoveAll(stage)
		return res, err
	}
	for _, n := range names {
		res.Shards = append(res.Shards, filepath.Join(cfg.Out, n))
	}
	return res, nil
}

// StagingDir is where Tokenize writes the shards of out before moving them
// there: a hidden directory beside out, or inside it when out exists (a
// mount point or someone's working directory cannot be replaced). It is
// named for this process, so a process killed while writing can say what
// it leaves, and one that finds a directory of its own name knows that it
// is stale (a container's process often has the same id every run). Beside
// an out whose name is near the longest a file system takes, its name is
// cut to fit (fsutil.HiddenPrefix).
func StagingDir(out string) string {
	tmp := fmt.Sprintf(".tmp-%d", os.Getpid())
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return filepath.Join(out, ".tokenize"+tmp)
	}
	out = filepath.Clean(out)
	return filepath.Join(filepath.Dir(out), fsutil.HiddenPrefix(filepath.Base(out), len(tmp))+tmp)
}

// probeOut makes and removes stage before the encoding, so that an out
// that cannot be written fails at once rather than after it. It leaves
// out as it was: an interrupted run makes no directory. A stale stage of
// this process id is removed first.
func probeOut(out, stage string) error {
	parent := filepath.Dir(stage)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return field.Errorf("out", "tokenize: {out} %s: cannot make the directory: %v", out, err)
	}
	err := os.RemoveAll(stage)
	if err == nil {
		err = os.Mkdir(stage, 0o755)
	}
	if err == nil {
		err = os.Remove(stage)
	}
	if err != nil {
		// stage is no path the user gave, and its name holds the process
		// id: name the user's directory alone, so that the message says
		// what to fix and is the same every run.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return field.Errorf("out", "tokenize: {out} %s: cannot write in %s: %v", out, parent, err)
	}
	return nil
}

// writeShards writes ts into the new directory stage, the first nv tokens as
// val_000000.bin, and returns the shards' names, validation first. It stops
// between shards when ctx is cancelled.
func writeShards(ctx context.Context, stage string, ts []uint16, nv int) ([]string, error) {
	if err := os.Mkdir(stage, 0o755); err != nil {
		return nil, fmt.Errorf("data: %v", err)
	}
	type shard struct {
		name   string
		tokens []uint16
	}
	var shards []shard
	if nv > 0 {
		shards = append(shards, shard{"val_000000.bin", ts[:nv]})
	}
	for i, at := 0, nv; at < len(ts); i, at = i+1, at+ShardTokens {
		shards = append(shards, shard{fmt.Sprintf("train_%06d.bin", i), ts[at:min(at+ShardTokens, len(ts))]})
	}
	var names []string
	for _, s := range shards {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := WriteShard(filepath.Join(stage, s.name), s.tokens); err != nil {
			return nil, err
		}
		names = append(names, s.name)
	}
	return names, ctx.Err()
}

// commit moves the shards from stage into out. When out is new, stage
// becomes out by one rename: out then holds every shard or does not exist,
// whatever kills the process. Into an existing out each shard is linked in
// turn, validation first (alone, it fails training loudly); an error takes
// back the ones moved, and only a crash during these few links, after
// every shard is written and synced, can leave some of them.
//
// Neither ever replaces what is there: out checked empty of shards at the
// start may not be at the end, when another tokenize into it finished
// meanwhile, and replacing its shards would leave a mix of the two runs
// (one's validation tokens inside the other's training shard). Every run
// writes train_000000.bin, so of two such runs the second to move it fails.
func commit(stage, out string, names []string) error {
	if filepath.Dir(stage) != filepath.Clean(out) {
		// os.Rename refuses to replace a directory, even an empty one.
		if err := os.Rename(stage, out); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return raced(out, out)
			}
			return field.Errorf("out", "tokenize: {out} %s: %v", out, err)
		}
		return fsutil.SyncDir(filepath.Dir(stage))
	}
	for i, n := range names {
		// A link, unlike a rename, fails where the name is taken.
		if err := os.Link(filepath.Join(stage, n), filepath.Join(out, n)); err != nil {
			for _, m := range names[:i] {
				os.Remove(filepath.Join(out, m))
			}
			if errors.Is(err, fs.ErrExist) {
				return raced(out, filepath.Join(out, n))
			}
			// A file system without hard links (FAT, exFAT): a new out
			// takes the shards by a rename of stage. The link's paths
			// name stage, which the user never gave.
			var le *os.LinkError
			if errors.As(err, &le) {
				err = le.Err
			}
			return field.Errorf("out", "tokenize: {out} %s: cannot move the shards into it: %v; give a new directory", out, err)
		}
	}
	os.RemoveAll(stage) // its shards are in out now, and it is hidden: no reason to fail a finished run
	return fsutil.SyncDir(out)
}

// raced is the error of a run that finds path taken as it moves its shards
// into out, most likely by another tokenize into the same directory that
// finished after this run checked out at its start.
func raced(out, path string) error {
	return field.Errorf("out", "tokenize: {out} %s: %s is in the way (another tokenize writing into the same directory?); none of this run's shards are kept, so that they do not mix with what is there: give each run its own directory", out, path)
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
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("tokenize: %s does not exist; give text files or directories of them", in)
		case err != nil:
			return nil, fmt.Errorf("tokenize: %v", err)
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
	if fi.Mode().IsRegular() && fi.Size() > 0 && strings.EqualFold(filepath.Ext(path), ".bin") {
		return fmt.Errorf("data: %s is a .bin file, which baton reads as llm.c token shards; it is tokenized already", path)
	}
	return checkText(path, fi, "give text files or directories of them")
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
