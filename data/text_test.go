// Tests of byte-level text loading: walking, skipping, sampling and its errors.

package data

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// textTree writes a directory with text files and every kind of entry the
// walk must skip, and returns its root and the text in walk order.
func textTree(t *testing.T) (string, []byte) {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"a.go":           "package a\n",
		"b/c.txt":        "héllo, wörld\n",
		"b/d/e.md":       strings.Repeat("# deep\n", 300),
		"a/z.go":         "package z\n", // "a.go" < "a/z.go": sorted by path, not by walk
		".hidden":        "skip me\n",
		".git/config":    "skip me too\n",
		"b/.cache/x.txt": "and me\n",
		"empty.txt":      "",
	}
	for p, s := range files {
		writeFile(t, filepath.Join(root, p), []byte(s))
	}
	writeFile(t, filepath.Join(root, "img.png"), []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))
	writeFile(t, filepath.Join(root, "latin1.txt"), []byte("caf\xe9\n"))
	if err := os.Symlink(filepath.Join(root, "a.go"), filepath.Join(root, "link.go")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(root, "b"), filepath.Join(root, "linkdir")); err != nil {
		t.Fatal(err)
	}
	var want []byte
	for _, p := range []string{"a.go", "a/z.go", "b/c.txt", "b/d/e.md"} {
		want = append(want, files[p]...)
	}
	return root, want
}

// stream reassembles the token stream that splitStream cut.
func stream(d *Dataset) []byte {
	var b []byte
	train, val := d.Train, d.Val
	chunk := max((len(train)+len(val))/valEvery, 1)
	if len(train)+len(val) >= valEvery*splitChunk {
		chunk = splitChunk
	}
	for i := 0; len(train)+len(val) > 0; i++ {
		src := &train
		if i%valEvery == valEvery-1 {
			src = &val
		}
		n := min(chunk, len(*src))
		for _, t := range (*src)[:n] {
			b = append(b, byte(t))
		}
		*src = (*src)[n:]
	}
	return b
}

func TestLoadTextTree(t *testing.T) {
	root, want := textTree(t)
	d, err := Load(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range d.Files {
		r, _ := filepath.Rel(root, f)
		names = append(names, filepath.ToSlash(r))
	}
	if !slices.Equal(names, []string{"a.go", "a/z.go", "b/c.txt", "b/d/e.md"}) {
		t.Fatalf("files %q; want the four text files in sorted path order", names)
	}
	if got := stream(d); !bytes.Equal(got, want) {
		t.Fatalf("tokens are not the files' bytes in order:\n got %q\nwant %q", got, want)
	}
	if d.Format != Text || d.V != TextVocab || d.MaxToken != 0xc3 || d.Subset != "" {
		t.Fatalf("format %q, V %d, MaxToken %d, subset %q", d.Format, d.V, d.MaxToken, d.Subset)
	}
	if len(d.Val) == 0 {
		t.Fatal("no validation tokens")
	}
}

func TestLoadTextSymlinkedRoot(t *testing.T) {
	root, want := textTree(t)
	link := filepath.Join(t.TempDir(), "corpus")
	if err := os.Symlink(root, link); err != nil {
		t.Fatal(err)
	}
	d, err := LoadText(link, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stream(d), want) || !strings.HasPrefix(d.Files[0], link) {
		t.Fatalf("through a symlinked root: files %q", d.Files)
	}
}

func TestLoadTextLimit(t *testing.T) {
	root := t.TempDir()
	// 30 files of 100 bytes under a limit of 1000: every 3rd file is taken
	// (files 0, 3, ..., 27), i.e. 10 files spanning the whole tree.
	for i := range 30 {
		writeFile(t, filepath.Join(root, string(rune('A'+i/10)), string(rune('a'+i%10))+".txt"), bytes.Repeat([]byte{byte('0' + i%10)}, 100))
	}
	d, err := LoadText(root, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Files) != 10 || len(d.Train)+len(d.Val) != 1000 {
		t.Fatalf("%d files, %d tokens; want 10 files, 1000 tokens", len(d.Files), len(d.Train)+len(d.Val))
	}
	for i, f := range d.Files {
		r, _ := filepath.Rel(root, f)
		j := 3 * i
		if want := filepath.Join(string(rune('A'+j/10)), string(rune('a'+j%10))+".txt"); r != want {
			t.Fatalf("file %d is %s; want %s", i, r, want)
		}
	}
	if want := "every 3rd of 30 text files (3000 bytes), up to 1000 bytes"; d.Subset != want {
		t.Fatalf("Subset %q, want %q", d.Subset, want)
	}
	// A limit below the tree's size over its file count takes the first
	// file alone, cut, and says so, not "every 300th of 30".
	if d, err = LoadText(root, 10); err != nil {
		t.Fatal(err)
	}
	if want := "the first 10 bytes of the first of 30 text files (3000 bytes)"; len(d.Files) != 1 || d.Subset != want {
		t.Fatalf("limit 10: %d files, subset %q; want 1 and %q", len(d.Files), d.Subset, want)
	}
	// A file larger than what is left of the limit is cut: sizes 500, 10,
	// 10, 10 under a limit of 300 give k = 2, and file 0 is cut at 300.
	root = t.TempDir()
	for i, n := range []int{500, 10, 10, 10} {
		writeFile(t, filepath.Join(root, string(rune('a'+i))), bytes.Repeat([]byte{'x'}, n))
	}
	d, err = LoadText(root, 300)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Train) + len(d.Val); n != 300 || len(d.Files) != 1 {
		t.Fatalf("%d tokens from %d files; want 300 from 1", n, len(d.Files))
	}
}

// TestLoadTextFillsTheLimitOfASkewedTree: where every k-th file falls
// short of the limit (a large file lies between them), files between
// them fill it, the large one cut: 100 files of 10 bytes and one of 4000
// under a limit of 2000 (k = 3) give 2000 bytes, not the 340 of files 0,
// 3, …, 99.
func TestLoadTextFillsTheLimitOfASkewedTree(t *testing.T) {
	root := t.TempDir()
	for i := range 100 {
		writeFile(t, filepath.Join(root, fmt.Sprintf("a%03d.txt", i)), bytes.Repeat([]byte{'a'}, 10))
	}
	writeFile(t, filepath.Join(root, "b.txt"), bytes.Repeat([]byte{'b'}, 4000))
	d, err := LoadText(root, 2000)
	if err != nil {
		t.Fatal(err)
	}
	got := stream(d)
	if len(got) != 2000 || bytes.Count(got, []byte{'b'}) != 2000-10*(len(d.Files)-1) {
		t.Fatalf("%d bytes from %d files, %d of them the large file's; want 2000, the large file's filling what the small ones leave", len(got), len(d.Files), bytes.Count(got, []byte{'b'}))
	}
	if want := "every 3rd of 101 text files (5000 bytes), and 34 files between them to fill the limit of 2000 bytes"; d.Subset != want {
		t.Errorf("Subset %q, want %q", d.Subset, want)
	}
	// A stride past the tree (a limit below its size over its file count)
	// whose first file falls short: the first files, the last cut.
	root = t.TempDir()
	for i, n := range []int{10, 10, 500} {
		writeFile(t, filepath.Join(root, string(rune('a'+i))), bytes.Repeat([]byte{'x'}, n))
	}
	if d, err = LoadText(root, 100); err != nil {
		t.Fatal(err)
	}
	if want := "the first 3 files of 3 text files (520 bytes), up to 100 bytes"; len(stream(d)) != 100 || d.Subset != want {
		t.Errorf("%d bytes, Subset %q; want 100 and %q", len(stream(d)), d.Subset, want)
	}
}

func TestLoadTextFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.txt")
	writeFile(t, p, bytes.Repeat([]byte("abc\n"), 1000))
	d, err := Load(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := stream(d); !bytes.Equal(got, bytes.Repeat([]byte("abc\n"), 1000)) || len(d.Files) != 1 {
		t.Fatalf("single file: %d files, %d tokens", len(d.Files), len(got))
	}
	d, err = Load(p, 100)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Train) + len(d.Val); n != 100 || d.Subset == "" {
		t.Fatalf("limit 100: %d tokens, subset %q", n, d.Subset)
	}
}

func TestLoadTextErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.txt")
	writeFile(t, empty, nil)
	bin := filepath.Join(dir, "prog")
	writeFile(t, bin, []byte("\x7fELF\x02\x01\x01\x00"))
	latin := filepath.Join(dir, "latin1.txt")
	writeFile(t, latin, []byte("caf\xe9 au lait\n"))
	noText := filepath.Join(dir, "notext")
	writeFile(t, filepath.Join(noText, "x.png"), []byte{0x89, 'P', 'N', 'G', 0})
	writeFile(t, filepath.Join(noText, ".secret"), []byte("hidden text"))
	writeFile(t, filepath.Join(noText, "e.txt"), nil)
	emptyDir := filepath.Join(dir, "emptydir")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "does not exist"},
		{empty, "is empty"},
		{bin, "looks binary (NUL byte at offset 7)"},
		{latin, "looks binary (invalid UTF-8"},
		{noText, "has no text files (skipped 1 binary, 1 empty, 1 hidden"},
		{emptyDir, "has no text files"},
	} {
		_, err := Load(c.path, DefaultTextLimit)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("Load(%s): error %v; want one naming the path and saying %q", c.path, err, c.want)
		}
	}
}

func TestLooksBinary(t *testing.T) {
	euro := "€" // 3 bytes
	long := strings.Repeat("x", sniffLen-1) + euro
	for _, c := range []struct {
		name string
		head string
		size int64
		bin  bool
	}{
		{"ascii", "hello", 5, false},
		{"utf8", "héllo €", 9, false},
		{"nul", "a\x00b", 3, true},
		{"latin1", "caf\xe9", 4, true},
		// A character cut by the 8 KiB window is not evidence of binary...
		{"cut rune", long[:sniffLen], int64(len(long)), false},
		// ...but the same bytes at the real end of the file are.
		{"truncated rune at EOF", long[:sniffLen], sniffLen, true},
		{"empty", "", 0, false},
	} {
		if got := looksBinary([]byte(c.head), c.size) != ""; got != c.bin {
			t.Errorf("%s: binary = %v, want %v", c.name, got, c.bin)
		}
	}
}
