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
// "val" are validation and the others training; if none is named so, the
// training tokens are split as text is (see splitStream).
func LoadShards(path string) (*Dataset, error) {
	files, err := shardFiles(path)
	if err != nil {
		return nil, err
	}
	var trainFiles, valFiles []string
	for _, f := range files {
		if strings.Contains(filepath.Base(f), "val") {
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
	if d.Train, err = readShards(trainFiles); err != nil {
		return nil, err
	}
	if len(valFiles) > 0 {
		if d.Val, err = readShards(valFiles); err != nil {
			return nil, err
		}
		d.Split = fmt.Sprintf("%d training and %d validation shards (names containing \"val\")", len(trainFiles), len(valFiles))
	} else {
		d.Train, d.Val, d.Split = splitStream(d.Train)
		d.Split = "no shard named \"val\": " + d.Split
	}
	d.MaxToken = max(maxToken(d.Train), maxToken(d.Val))
	return d, nil
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

// readShards concatenates the tokens of files in order. All headers are
// checked first, so a bad shard fails fast and the tokens are read straight
// into one slice of the right size.
func readShards(files []string) ([]uint16, error) {
	counts := make([]int, len(files))
	total := 0
	for i, p := range files {
		f, n, err := openShard(p)
		if err != nil {
			return nil, err
		}
		f.Close()
		counts[i] = n
		total += n
	}
	all := make([]uint16, total)
	at := 0
	for i, p := range files {
		f, n, err := openShard(p)
		if err != nil {
			return nil, err
		}
		if n != counts[i] {
			f.Close()
			return nil, fmt.Errorf("data: %s changed while it was being read", p)
		}
		err = readTokens(f, all[at:at+n], p)
		f.Close()
		if err != nil {
			return nil, err
		}
		at += n
	}
	return all, nil
}
