//go:build unix

// Tests with what only unix offers: named pipes and devices in place of checkpoint files, and a save that fills the disk (a file-size limit in a child process).

package model

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLoadRefusesNonRegular puts a named pipe, a device or a directory in
// place of each file: the load must refuse it at once, naming it, where
// reading a pipe would wait forever for a writer.
func TestLoadRefusesNonRegular(t *testing.T) {
	kinds := map[string]struct {
		make func(path string) error
		want string
	}{
		"fifo":   {func(p string) error { return syscall.Mkfifo(p, 0o644) }, "a named pipe (FIFO), not a regular file"},
		"device": {func(p string) error { return os.Symlink("/dev/zero", p) }, "a character device, not a regular file"},
		"dir":    {func(p string) error { return os.Mkdir(p, 0o755) }, "a directory, not a regular file"},
	}
	for _, file := range []string{configFile, modelFile, optimizerFile, stateFile} {
		for kind, k := range kinds {
			for name, load := range loadersOf(file) {
				t.Run(name+"/"+file+"/"+kind, func(t *testing.T) {
					root := t.TempDir()
					dir := filepath.Join(root, "ckpt")
					mustSave(t, dir, tinyCheckpoint(1))
					path := filepath.Join(dir, file)
					if err := os.Remove(path); err != nil {
						t.Fatal(err)
					}
					if err := k.make(path); err != nil {
						t.Fatal(err)
					}
					before := snapshotTree(t, root)
					done := make(chan error, 1)
					go func() {
						_, err := load(dir)
						done <- err
					}()
					var err error
					select {
					case err = <-done:
					case <-time.After(10 * time.Second):
						t.Fatalf("%s blocked on %s", name, path)
					}
					want := "checkpoint " + path + ": " + k.want
					if err == nil || !strings.HasPrefix(err.Error(), want) {
						t.Fatalf("%s = %v, want an error starting %q", name, err, want)
					}
					unchanged(t, root, before)
				})
			}
		}
	}
}

// fullDiskEnv tells the test binary, run again as a child, to save into
// the directory it names under a file-size limit smaller than a checkpoint.
const fullDiskEnv = "BATON_TEST_FULL_DISK_DIR"

// fullDiskLimit lets model.safetensors (about 136 KiB) be written whole and
// stops optimizer/optimizer.safetensors (twice that) partway, as a full disk would.
const fullDiskLimit = 200 << 10

func TestSaveFullDiskHelper(t *testing.T) {
	dir := os.Getenv(fullDiskEnv)
	if dir == "" {
		t.Skip("only runs as the child of TestSaveFullDiskRemovesTmp")
	}
	// Ignored, SIGXFSZ no longer kills the process: the write fails with EFBIG.
	signal.Ignore(syscall.SIGXFSZ)
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = fullDiskLimit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	err := Save(dir, tinyCheckpoint(2))
	fmt.Printf("save error: %v\n", err)
}

// TestSaveFullDiskRemovesTmp: a save that runs out of space fails naming
// the file, removes the partial <dir>.tmp and leaves the previous
// checkpoint as it was.
func TestSaveFullDiskRemovesTmp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "ckpt")
	mustSave(t, dir, tinyCheckpoint(1))
	before := snapshotTree(t, root)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSaveFullDiskHelper$")
	cmd.Env = append(os.Environ(), fullDiskEnv+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	want := "save error: checkpoint " + dir + ": not saved (any previous checkpoint there is unchanged): write " +
		filepath.Join(dir+tmpSuffix, optimizerFile) + ": file too large"
	if !strings.Contains(string(out), want) {
		t.Fatalf("child said\n%s\nwant %q", out, want)
	}
	unchanged(t, root, before)
	got, err := LoadResume(dir)
	if err != nil {
		t.Fatal(err)
	}
	sameCheckpoint(t, got, tinyCheckpoint(1))
}
