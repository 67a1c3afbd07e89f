// Shard datasets: one .bin file, a glob or a directory of them, split by llm.c's naming rule.

package data

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// LoadShards reads llm.c token shards from one .bin file, a glob, or a
// directory holding .bin files. As in llm.c, files whose name contains
// "val", in any case, are validation and the others training; if none is
// named so, the training tokens are split as text is (see splitStream).
func LoadShards(path string) (*Dataset, error) {
	files, err := shardFiles(path)
	if err != nil {
		return nil, err
	}
	var trainFiles, valFiles []string
	for _, f := range files {
		// llm.c's scripts write lower case, but .bin is matched in any
		// case: VAL_000000.BIN must not be trained on.
		if strings.Contains(strings.ToLower(filepath.Base(f)), "val") {
			valFiles = append(valFiles, f)
		} else {
			trainFiles = append(trainFiles, f)
		}
	}
	if len(trainFiles) == 0 {
		return nil, fmt.Errorf("data: %s has only validation shards (%d files whose name contains \"val\"); add a training shard", path, len(valFiles))
	}
	d := &Dataset{Source: path, Format: Shards, V: GPT2Vocab}
	d.Files = append(trainFiles, valFiles...)
	var trainMaxes, valMaxes []int
	if d.Train, trainMaxes, err = readShards(trainFiles); err != nil {
		return nil, err
	}
	if len(valFiles) > 0 {
		if d.Val, valMaxes, err = readShards(valFiles); err != nil {
			return nil, err
		}
		d.Split = fmt.Sprintf("%d training and %d validation shards (names containing \"val\")", len(trainFiles), len(valFiles))
	} else {
		d.Train, d.Val, d.Split = splitStream(d.Train)
		d.Split = "no shard named \"val\": " + d.Split
	}
	maxes := append(trainMaxes, valMaxes...) // in the order of d.Files
	d.MaxToken = slices.Max(maxes)
	if i := slices.IndexFunc(maxes, func(m int) bool { return m >= GPT2Vocab }); i >= 0 {
		d.Warnings = append(d.Warnings, notGPT2(d.Files[i], maxes[i]))
	}
	return d, nil
}

// notGPT2 is the warning for a shard holding a token that GPT-2's tokenizer
// never writes: ids from GPT2Vocab to 50303 exist only as the padding rows of
// a 50,304-row model, so the shards were made with another tokenizer or are
// damaged, and vocab_size in run.json is wrong for them. Tokens from the
// model's V up are an error already (Check).
func notGPT2(file string, token int) string {
	return fmt.Sprintf("data: %s holds token %d, but GPT-2's ids end at %d (the ids above only pad a model's vocabulary): it was not written with GPT-2's tokenizer, or is damaged; check how it was made",
		file, token, GPT2Vocab-1)
}

// shardFiles resolves path (a file, a glob or a directory) to sorted shard paths.
func shardFiles(path string) ([]string, error) {
	fi, err := os.Stat(path)
	switch {
	case err != nil && isGlob(path):
		files, err := filepath.Glob(path)
		if err != nil {
			return nil, fmt.Errorf("data: bad glob %q: %v", path, err)
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("data: %s matches no files; check the pattern", path)
		}
		slices.Sort(files)
		return files, nil
	case err != nil:
		return nil, missing(path, err)
	case fi.IsDir():
		files, err := binFiles(path)
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("data: %s holds no .bin shards", path)
		}
		return files, nil
	}
	return []string{path}, nil
}

// binFiles lists the .bin files directly in dir that are regular files or
// links to one (a Hugging Face snapshot holds only links), sorted.
func binFiles(dir string) ([]string, error) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("data: %v", err)
	}
	var files []string
	for _, e := range es {
		if !strings.EqualFold(filepath.Ext(e.Name()), ".bin") || e.Name()[0] == '.' {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if e.Type()&fs.ModeSymlink != 0 {
			if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
				continue
			}
		} else if !e.Type().IsRegular() {
			continue
		}
		files = append(files, p)
	}
	return files, nil // os.ReadDir sorts by name
}

// isGlob reports whether path has glob metacharacters.
func isGlob(path string) bool { return strings.ContainsAny(path, "*?[") }

// readShards concatenates the tokens of files in order and returns the
// largest token of each file. All headers are checked first, so a bad shard
// fails fast and the tokens are read straight into one slice of the right
// size.
func readShards(files []string) ([]uint16, []int, error) {
	counts := make([]int, len(files))
	total := 0
	for i, p := range files {
		f, n, err := openShard(p)
		if err != nil {
			return nil, nil, err
		}
		f.Close()
		counts[i] = n
		total += n
	}
	all := make([]uint16, total)
	maxes := make([]int, len(files))
	at := 0
	for i, p := range files {
		f, n, err := openShard(p)
		if err != nil {
			return nil, nil, err
		}
		if n != counts[i] {
			f.Close()
			return nil, nil, fmt.Errorf("data: %s changed while it was being read", p)
		}
		err = readTokens(f, all[at:at+n], p)
		f.Close()
		if err != nil {
			return nil, nil, err
		}
		maxes[i] = maxToken(all[at : at+n])
		at += n
	}
	return all, maxes, nil
}
