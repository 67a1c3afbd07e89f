// Tests and benchmark of the default corpus, GOROOT/src.

package data

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// defaultPath returns the default corpus or skips if this machine truly has none.
func defaultPath(tb testing.TB) string {
	tb.Helper()
	p, err := DefaultTextPath()
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(os.Getenv("GOROOT"), "src")); statErr != nil {
			tb.Skipf("no Go sources on this machine: %v", err)
		}
		tb.Fatal(err)
	}
	return p
}

func TestDefaultCorpus(t *testing.T) {
	root := defaultPath(t)
	d, err := Load("", DefaultTextLimit)
	if err != nil {
		t.Fatal(err)
	}
	if d.Source != root || d.Format != Text || d.V != TextVocab {
		t.Fatalf("source %s, format %q, V %d", d.Source, d.Format, d.V)
	}
	n := len(d.Train) + len(d.Val)
	if n > DefaultTextLimit || n < DefaultTextLimit/2 {
		t.Fatalf("%d tokens; want between half of and the full limit %d", n, DefaultTextLimit)
	}
	if len(d.Val) < n/25 {
		t.Fatalf("only %d validation tokens of %d", len(d.Val), n)
	}
	// The sample must span the tree, not stop in the first packages.
	first, _ := filepath.Rel(root, d.Files[0])
	last, _ := filepath.Rel(root, d.Files[len(d.Files)-1])
	if strings.SplitN(first, string(filepath.Separator), 2)[0] == strings.SplitN(last, string(filepath.Separator), 2)[0] {
		t.Fatalf("sample runs from %s to %s only", first, last)
	}
	if err := d.Check(TextVocab, 1024); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + d.Describe().String())
}

func BenchmarkLoadDefault(b *testing.B) {
	defaultPath(b)
	for b.Loop() {
		if _, err := Load("", DefaultTextLimit); err != nil {
			b.Fatal(err)
		}
	}
}
