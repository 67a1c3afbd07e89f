// Load: reading a checkpoint directory back, checking every file, falling back to <dir>.old after an interrupted Save.

package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Load reads the checkpoint in dir and checks it against its config.json:
// every tensor present, F32, of the right shape, and nothing else. When dir
// is missing or does not load but <dir>.old (left by an interrupted Save)
// does, it returns that one with RecoveredFrom set. A <dir>.tmp is never
// read: it may be half written.
func Load(dir string) (*Checkpoint, error) {
	dir, err := cleanDir(dir)
	if err != nil {
		return nil, err
	}
	ck, err := loadDir(dir)
	if err == nil {
		return ck, nil
	}
	old := dir + oldSuffix
	if _, serr := os.Stat(old); serr != nil {
		return nil, err
	}
	ck, oerr := loadDir(old)
	if oerr != nil {
		return nil, fmt.Errorf("%w (the previous checkpoint does not load either: %v)", err, oerr)
	}
	ck.RecoveredFrom = old
	return ck, nil
}

func loadDir(dir string) (*Checkpoint, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint %s: no such directory; check the path (Save creates it)", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("checkpoint %s: not a directory; a checkpoint is a directory holding %s and %s", dir, modelFile, configFile)
	}

	cfgPath := filepath.Join(dir, configFile)
	raw, err := readCapped(cfgPath, maxConfigBytes)
	if err != nil {
		return nil, err
	}
	cfg, err := decodeHFConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", cfgPath, err)
	}
	ck := &Checkpoint{Config: cfg}
	ts := cfg.AllTensors()
	if ck.Params, err = readTensorFile(filepath.Join(dir, modelFile), ts, cfg); err != nil {
		return nil, err
	}

	optPath := filepath.Join(dir, optimizerFile)
	if _, err := os.Stat(optPath); err == nil {
		mv, err := readTensorFile(optPath, append(prefixed(mPrefix, ts), prefixed(vPrefix, ts)...), cfg)
		if err != nil {
			return nil, err
		}
		ck.M = make(map[string][]float32, len(ts))
		ck.V = make(map[string][]float32, len(ts))
		for _, t := range ts {
			ck.M[t.Name] = mv[mPrefix+t.Name]
			ck.V[t.Name] = mv[vPrefix+t.Name]
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint %s: %w", optPath, err)
	}

	statePath := filepath.Join(dir, stateFile)
	if _, err := os.Stat(statePath); errors.Is(err, fs.ErrNotExist) {
		return ck, nil
	}
	state, err := readCapped(statePath, maxStateBytes)
	if err != nil {
		return nil, err
	}
	if !json.Valid(state) {
		return nil, fmt.Errorf("checkpoint %s: not valid JSON; the file is corrupted: load the .old copy, or delete the file to resume without training state", statePath)
	}
	ck.State = json.RawMessage(state)
	return ck, nil
}

// readCapped reads a whole file, refusing one larger than limit before
// reading it.
func readCapped(path string, limit int64) ([]byte, error) {
	f, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("checkpoint %s: file is %d bytes, more than the %d this file can reasonably have; is it the right file?", path, fi.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: read: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("checkpoint %s: file grew past %d bytes while being read", path, limit)
	}
	return b, nil
}

// openFile opens a checkpoint file; a missing file's error names the files
// a checkpoint needs.
func openFile(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("checkpoint %s: missing; a checkpoint directory needs %s and %s (was it written by Save?)", path, modelFile, configFile)
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return f, nil
}
