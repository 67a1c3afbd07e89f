// Tokenize into a read-only file system: the message names --out, not a staging path.

package data

import (
	"context"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

// TestTokenizeReadOnlyOut: an --out on a read-only file system, new or
// existing, is refused before the encoding, naming the directory that
// cannot be written and nothing of this process (the staging directory's
// name holds its id), so that the message is the same every run.
func TestTokenizeReadOnlyOut(t *testing.T) {
	in, ro := filepath.Join(t.TempDir(), "in.txt"), t.TempDir()
	writeFile(t, in, []byte("Hello world"))
	errs := make(chan error, 2)
	go func() {
		// A read-only mount seen by this thread alone, in a mount
		// namespace of its own: the thread is never unlocked, so it ends
		// with the goroutine and the mount with it.
		runtime.LockOSThread()
		if err := syscall.Unshare(syscall.CLONE_NEWNS); err != nil {
			errs <- err
			return
		}
		if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
			errs <- err
			return
		}
		if err := syscall.Mount("baton-test", ro, "tmpfs", syscall.MS_RDONLY, ""); err != nil {
			errs <- err
			return
		}
		errs <- nil
		for _, out := range []string{filepath.Join(ro, "shards"), ro} {
			_, err := Tokenize(context.Background(), TokenizeConfig{Tokenizer: "gpt2", Inputs: []string{in}, Out: out,
				Progress: func(_, _, _ int64) { t.Errorf("--out %s: the encoding began", out) }})
			errs <- err
		}
	}()
	if err := <-errs; err != nil {
		t.Skip("needs a mount namespace of its own (root on Linux):", err)
	}
	for _, out := range []string{filepath.Join(ro, "shards"), ro} {
		want := "tokenize: out " + out + ": cannot write in " + ro + ": read-only file system"
		if err := <-errs; err == nil || err.Error() != want {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}
