// The default corpus: the Go standard library sources, present wherever baton builds.

package data

import (
	"baton/internal/field"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// giveData says what to do without the Go sources: most often baton runs
// in a container (or on a host) with the binary alone, and the corpus must
// come from outside.
const giveData = "give {data} a text file, a directory or llm.c .bin shards " +
	"(in a container without Go, mount one: docker run -v \"$PWD/corpus:/corpus:ro\" … train {data} /corpus)"

// DefaultTextPath returns GOROOT/src. It prefers runtime.GOROOT(), which
// costs nothing, and asks `go env GOROOT` only when that directory is
// missing (a binary built with -trimpath, or moved to another machine).
func DefaultTextPath() (string, error) {
	//lint:ignore SA1019 deliberate: the build-time GOROOT is right on the machine that built baton, and the fallback covers the rest.
	if root := runtime.GOROOT(); root != "" && isDir(filepath.Join(root, "src")) {
		return filepath.Join(root, "src"), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	if err != nil {
		return "", field.Errorf("data", "data: cannot find the Go sources for the default corpus (runtime.GOROOT() has no src, `go env GOROOT` failed: %v); "+giveData, err)
	}
	src := filepath.Join(strings.TrimSpace(string(out)), "src")
	if !isDir(src) {
		return "", field.Errorf("data", "data: cannot find the Go sources for the default corpus (%s is not a directory); "+giveData, src)
	}
	return src, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
