// state.json's one field the checkpoint itself relies on, the step, and the warning of a fallback to <dir>.old, which names the step lost.

package model

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateStep checks that state is a JSON object whose "step" is a whole
// number of at least 1, and returns it. A state without one would resume
// trained weights at step 0, repeating the learning-rate warm-up and the
// batches already seen.
func stateStep(state []byte) (int, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(state, &obj); err != nil || obj == nil {
		return 0, errors.New(`is not a JSON object; it must hold the training state, such as {"step": 100, ...}`)
	}
	raw, ok := obj["step"]
	if !ok {
		return 0, errors.New(`has no "step"; it must say how many training steps the checkpoint holds`)
	}
	var step int
	// Unmarshal takes null for "leave as is", which would read as step 0.
	if err := json.Unmarshal(raw, &step); err != nil || string(raw) == "null" {
		return 0, fmt.Errorf(`has "step": %s, not a whole number of training steps`, raw)
	}
	if step < 1 {
		return 0, fmt.Errorf(`has "step": %d; a checkpoint holds at least one training step`, step)
	}
	return step, nil
}

// fallbackWarning says that dir did not load and why, that prev (read from
// <dir>.old) is used instead, and which step is lost: dir's, when its
// state.json still says.
func fallbackWarning(dir string, why error, prev *Checkpoint) string {
	what := why.Error()
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		what = fmt.Sprintf("checkpoint %s is missing (a save was interrupted)", dir)
	}
	using := "using the previous checkpoint " + prev.RecoveredFrom + " instead"
	if step, err := stateStep(prev.State); prev.State != nil && err == nil {
		using += fmt.Sprintf(", at step %d", step)
	}
	lost := "the newer checkpoint is lost"
	if step, ok := peekStep(dir); ok {
		lost = fmt.Sprintf("the checkpoint of step %d is lost", step)
	}
	return fmt.Sprintf("%s; %s: %s", what, using, lost)
}

// peekStep is the step in dir's state.json, if that file is intact.
func peekStep(dir string) (int, bool) {
	state, err := readCapped(filepath.Join(dir, stateFile), maxStateBytes)
	if err != nil {
		return 0, false
	}
	step, err := stateStep(state)
	return step, err == nil
}
