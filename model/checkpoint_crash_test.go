// Tests that a Save stopped at any point, by a simulated or a real SIGKILL, leaves a loadable checkpoint.

package model

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSaveInterrupted stops Save after each step of its sequence, as a
// crash there would, and checks that Load finds the old or the new
// checkpoint, and that the next Save cleans up.
func TestSaveInterrupted(t *testing.T) {
	crash := errors.New("simulated crash")
	cases := []struct {
		step      string
		wantNew   bool
		recovered bool // Load must fall back to <dir>.old
	}{
		{"files", false, false},
		{"written", false, false},
		{"moved-old", false, true},
		{"renamed", true, false},
		{"synced", true, false},
	}
	for _, tc := range cases {
		t.Run(tc.step, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			before, after := tinyCheckpoint(1), tinyCheckpoint(2)
			mustSave(t, dir, before)

			saveHook = func(step string) error {
				if step == tc.step {
					return crash
				}
				return nil
			}
			err := Save(dir, after)
			saveHook = nil
			if !errors.Is(err, crash) {
				t.Fatalf("Save = %v, want the simulated crash at %s", err, tc.step)
			}

			got, err := LoadResume(dir)
			if err != nil {
				t.Fatalf("Load after a crash at %s: %v", tc.step, err)
			}
			want := before
			if tc.wantNew {
				want = after
			}
			sameCheckpoint(t, got, want)
			if wantFrom := map[bool]string{true: dir + oldSuffix}[tc.recovered]; got.RecoveredFrom != wantFrom {
				t.Errorf("RecoveredFrom = %q, want %q", got.RecoveredFrom, wantFrom)
			}
			if (len(got.Warnings) == 1) != tc.recovered || len(got.Warnings) > 1 {
				t.Errorf("Warnings = %q; want one only when recovered", got.Warnings)
			}

			third := tinyCheckpoint(3)
			mustSave(t, dir, third)
			if got, err = LoadResume(dir); err != nil {
				t.Fatal(err)
			}
			sameCheckpoint(t, got, third)
			noSiblings(t, dir)
		})
	}
}

// TestSaveInterruptedTwice: a save stopped after its last rename leaves the
// new checkpoint and a stale .old; the next save stopped after moving aside
// must not lose the newer one (it keeps the one that loads, as .old), and a
// damaged newer one gives way to .old.
func TestSaveInterruptedTwice(t *testing.T) {
	crash := errors.New("simulated crash")
	crashAt := func(at string) {
		saveHook = func(step string) error {
			if step == at {
				return crash
			}
			return nil
		}
	}
	defer func() { saveHook = nil }()
	for _, damaged := range []bool{false, true} {
		t.Run(map[bool]string{false: "newer loads", true: "newer damaged"}[damaged], func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ckpt")
			mustSave(t, dir, tinyCheckpoint(1))
			crashAt("renamed") // dir holds step 2, .old still step 1
			if err := Save(dir, tinyCheckpoint(2)); !errors.Is(err, crash) {
				t.Fatalf("Save = %v, want the simulated crash", err)
			}
			want := tinyCheckpoint(2)
			if damaged {
				if err := os.Truncate(filepath.Join(dir, modelFile), 10); err != nil {
					t.Fatal(err)
				}
				want = tinyCheckpoint(1)
			}
			crashAt("moved-old")
			if err := Save(dir, tinyCheckpoint(3)); !errors.Is(err, crash) {
				t.Fatalf("Save = %v, want the simulated crash", err)
			}
			saveHook = nil
			got, err := LoadResume(dir)
			if err != nil {
				t.Fatal(err)
			}
			sameCheckpoint(t, got, want)
		})
	}
}

func TestLoadIgnoresHalfWrittenTmp(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	want := tinyCheckpoint(1)
	mustSave(t, dir, want)
	tmp := dir + tmpSuffix
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, modelFile))
	writeFile(t, filepath.Join(tmp, modelFile), b[:100])
	got, err := LoadResume(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, want)
	if got.RecoveredFrom != "" {
		t.Errorf("RecoveredFrom = %q, want empty", got.RecoveredFrom)
	}
}

func TestLoadFallsBackToOld(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	want := tinyCheckpoint(1)
	mustSave(t, dir, want)
	if err := os.Rename(dir, dir+oldSuffix); err != nil {
		t.Fatal(err)
	}
	got, err := LoadResume(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, want)
	if got.RecoveredFrom != dir+oldSuffix {
		t.Errorf("RecoveredFrom = %q, want %q", got.RecoveredFrom, dir+oldSuffix)
	}
}

func TestLoadTruncatedNamesFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	mustSave(t, dir, tinyCheckpoint(1))
	path := filepath.Join(dir, modelFile)
	b, _ := os.ReadFile(path)
	writeFile(t, path, b[:len(b)-7])
	_, err := LoadResume(dir)
	if err == nil || !strings.HasPrefix(err.Error(), "checkpoint "+path+":") {
		t.Fatalf("error = %v, want one naming %s", err, path)
	}

	// With the previous checkpoint beside it, Load says where it read from.
	want := tinyCheckpoint(2)
	mustSave(t, dir+oldSuffix, want)
	got, err := LoadResume(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, want)
	if got.RecoveredFrom != dir+oldSuffix {
		t.Errorf("RecoveredFrom = %q, want %q", got.RecoveredFrom, dir+oldSuffix)
	}
}

// crashDirEnv tells the test binary, run again as a child, to save in a loop
// until it is killed; after its first save it creates the file named by
// crashReadyEnv, so the parent kills it mid-loop rather than at start-up.
const (
	crashDirEnv   = "BATON_TEST_SAVE_LOOP_DIR"
	crashReadyEnv = "BATON_TEST_SAVE_LOOP_READY"
)

func TestSaveLoopHelper(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestSaveSurvivesSIGKILL")
	}
	for i := uint64(10); ; i++ {
		if err := Save(dir, tinyCheckpoint(i)); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			if err := os.WriteFile(os.Getenv(crashReadyEnv), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestSaveSurvivesSIGKILL kills a process in the middle of saving, at
// varied moments, and loads what it left.
func TestSaveSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := filepath.Join(t.TempDir(), "ckpt")
	mustSave(t, dir, tinyCheckpoint(1))
	for i := range 6 {
		ready := filepath.Join(t.TempDir(), "ready")
		cmd := exec.Command(os.Args[0], "-test.run=^TestSaveLoopHelper$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashReadyEnv+"="+ready)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(time.Millisecond) {
			if _, err := os.Stat(ready); err == nil {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatal("the saving child process did not finish its first save in 20s")
			}
		}
		// Varied delays land the kill at different points of a save.
		time.Sleep(time.Duration(1+7*i) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()

		got, err := LoadResume(dir)
		if err != nil {
			t.Fatalf("kill %d: LoadResume: %v", i, err)
		}
		// The state names the seed; the tensors must be that save's, whole.
		var st struct{ Step uint64 }
		if err := json.Unmarshal(got.State, &st); err != nil {
			t.Fatal(err)
		}
		if st.Step < 10 {
			t.Fatalf("kill %d: loaded step %d, older than the child's first completed save", i, st.Step)
		}
		sameCheckpoint(t, got, tinyCheckpoint(st.Step))
		t.Logf("kill %d: loaded step %d (recovered from %q)", i, st.Step, got.RecoveredFrom)
	}
}
