// Tests of the llm.c shard reader, writer and shard datasets.

package data

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// shardBytes builds a shard image with any header, valid or not.
func shardBytes(magic, version, count int32, tokens []uint16) []byte {
	b := make([]byte, shardHeader, shardHeader+2*len(tokens))
	binary.LittleEndian.PutUint32(b[0:], uint32(magic))
	binary.LittleEndian.PutUint32(b[4:], uint32(version))
	binary.LittleEndian.PutUint32(b[8:], uint32(count))
	for _, t := range tokens {
		b = binary.LittleEndian.AppendUint16(b, t)
	}
	return b
}

// seq is n tokens counting up from first, wrapping at 2^16.
func seq(first, n int) []uint16 {
	ts := make([]uint16, n)
	for i := range ts {
		ts[i] = uint16(first + i)
	}
	return ts
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestShardRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.bin")
	// Longer than one write/read block, and reaching the top of uint16.
	want := seq(0, 1<<20+3)
	want[7] = 65535
	if err := WriteShard(p, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadShard(p)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatal("tokens read back differ from those written")
	}
	b, _ := os.ReadFile(p)
	if !slices.Equal(b, shardBytes(ShardMagic, ShardVersion, int32(len(want)), want)) {
		t.Fatal("file bytes differ from the llm.c layout")
	}
	if es, _ := os.ReadDir(filepath.Dir(p)); len(es) != 1 {
		t.Fatalf("WriteShard left %d files, want 1 (temporary file not renamed?)", len(es))
	}
}

func TestWriteShardEmpty(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.bin")
	if err := WriteShard(p, nil); err == nil {
		t.Fatal("WriteShard accepted no tokens")
	}
	if _, err := os.Stat(p); err == nil {
		t.Fatal("WriteShard created a file for no tokens")
	}
}

func TestShardErrors(t *testing.T) {
	ts := seq(1, 10)
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"magic", shardBytes(20240801, 1, 10, ts), "not an llm.c token shard: magic 20240801, want 20240520"},
		{"version", shardBytes(ShardMagic, 2, 10, ts), "unsupported llm.c shard version 2"},
		{"truncated", shardBytes(ShardMagic, 1, 12, ts), "truncated: header says 12 tokens, file has 10"},
		{"empty", shardBytes(ShardMagic, 1, 0, nil), "empty shard"},
		{"negative", shardBytes(ShardMagic, 1, -5, ts), "corrupt: header says -5 tokens"},
		{"extra", shardBytes(ShardMagic, 1, 9, ts), "corrupt: header says 9 tokens, file has 10"},
		{"odd", append(shardBytes(ShardMagic, 1, 10, ts), 7), "1 stray bytes"},
		{"short header", []byte{1, 2, 3}, "shorter than the 1024-byte llm.c shard header"},
		{"zero bytes", nil, "shorter than the 1024-byte"},
		{"short, not a shard", []byte("some weights, not tokens\n"), "not an llm.c token shard: magic 1701670771"},
		{"short shard", shardBytes(ShardMagic, 1, 10, ts)[:100], "shorter than the 1024-byte llm.c shard header"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name+".bin")
			writeFile(t, p, c.b)
			_, err := ReadShard(p)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
				t.Fatalf("error %v; want one naming %s and saying %q", err, p, c.want)
			}
			// Load must report the same problem, not a later symptom.
			if _, err := Load(p, 0); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Load: error %v; want %q", err, c.want)
			}
		})
	}
}

func TestShardMissing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nope.bin")
	if _, err := ReadShard(p); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("error %v; want one saying %s does not exist", err, p)
	}
}

func TestLoadShardsValByName(t *testing.T) {
	dir := t.TempDir()
	for name, ts := range map[string][]uint16{
		"corpus_train_000001.bin": seq(100, 50),
		"corpus_train_000002.bin": seq(200, 60),
		"corpus_val_000000.bin":   seq(50000, 40),
	} {
		if err := WriteShard(filepath.Join(dir, name), ts); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "README.md"), []byte("not a shard, not listed"))
	for _, path := range []string{dir, filepath.Join(dir, "corpus_*.bin")} {
		d, err := Load(path, 0)
		if err != nil {
			t.Fatalf("Load(%s): %v", path, err)
		}
		if d.Format != Shards || d.V != GPT2Vocab || len(d.Files) != 3 {
			t.Fatalf("Load(%s): format %q, V %d, %d files", path, d.Format, d.V, len(d.Files))
		}
		if !slices.Equal(d.Train, append(seq(100, 50), seq(200, 60)...)) {
			t.Fatalf("Load(%s): training tokens are not the train shards in name order", path)
		}
		if !slices.Equal(d.Val, seq(50000, 40)) {
			t.Fatalf("Load(%s): validation tokens are not the val shard", path)
		}
		if d.MaxToken != 50039 {
			t.Fatalf("Load(%s): MaxToken %d, want 50039", path, d.MaxToken)
		}
	}
}

// TestLoadShardsValUpperCase: .bin is matched in any case, and so is "val":
// upper-case names (a copy from a case-insensitive file system) keep their
// validation shard out of training.
func TestLoadShardsValUpperCase(t *testing.T) {
	dir := t.TempDir()
	for name, ts := range map[string][]uint16{"TRAIN_000000.BIN": seq(100, 50), "VAL_000000.BIN": seq(200, 40)} {
		if err := WriteShard(filepath.Join(dir, name), ts); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Load(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Train, seq(100, 50)) || !slices.Equal(d.Val, seq(200, 40)) {
		t.Errorf("split %q: %d training tokens from %d, %d validation from %d; want TRAIN's 50 and VAL's 40",
			d.Split, len(d.Train), d.Train[0], len(d.Val), d.Val[0])
	}
}

// TestLoadShardsNotGPT2: a token in GPT-2's padding range (50257..50303)
// is no GPT-2 token: a warning names the first shard holding one and the
// token; shards within GPT-2's ids get none.
func TestLoadShardsNotGPT2(t *testing.T) {
	dir := t.TempDir()
	for name, ts := range map[string][]uint16{"train_000000.bin": seq(0, 50), "train_000001.bin": {7, 50300, 9}, "val_000000.bin": seq(50200, 57)} {
		if err := WriteShard(filepath.Join(dir, name), ts); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Load(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := "data: " + filepath.Join(dir, "train_000001.bin") + " holds token 50300, but GPT-2's ids end at 50256"
	if len(d.Warnings) != 1 || !strings.HasPrefix(d.Warnings[0], want) || d.MaxToken != 50300 {
		t.Errorf("warnings %q, max token %d; want one starting %q, 50300", d.Warnings, d.MaxToken, want)
	}
	if err := os.Remove(filepath.Join(dir, "train_000001.bin")); err != nil {
		t.Fatal(err)
	}
	if d, err = Load(dir, 0); err != nil {
		t.Fatal(err)
	}
	if len(d.Warnings) != 0 || d.MaxToken != EndOfText {
		t.Errorf("GPT-2's ids alone: warnings %q, max token %d", d.Warnings, d.MaxToken)
	}
}

func TestLoadShardsNoVal(t *testing.T) {
	p := filepath.Join(t.TempDir(), "only.bin")
	all := seq(0, 4000)
	if err := WriteShard(p, all); err != nil {
		t.Fatal(err)
	}
	d, err := Load(p, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Val) == 0 || len(d.Train)+len(d.Val) != len(all) {
		t.Fatalf("split %d train + %d val of %d tokens", len(d.Train), len(d.Val), len(all))
	}
	if !strings.Contains(d.Split, "no shard named") {
		t.Fatalf("Split %q does not say why the stream was cut", d.Split)
	}
}

func TestLoadShardsErrors(t *testing.T) {
	dir := t.TempDir()
	if err := WriteShard(filepath.Join(dir, "a_val.bin"), seq(0, 10)); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		dir:                                   "only validation shards",
		filepath.Join(dir, "zz*.bin"):         "matches no files",
		filepath.Join(dir, "[.bin"):           "bad glob",
		filepath.Join(dir, "none", "x"):       "does not exist",
		filepath.Join(dir, "none", "*"):       "matches no files",
		filepath.Join(dir, "a_val.bin") + "/": "not a directory", // a file named as a directory
	} {
		_, err := LoadShards(path)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("LoadShards(%s): error %v; want %q", path, err, want)
		}
	}
	empty := t.TempDir()
	if _, err := LoadShards(empty); err == nil || !strings.Contains(err.Error(), "holds no .bin shards") {
		t.Errorf("LoadShards(empty dir): error %v", err)
	}
}

func TestCheckVocab(t *testing.T) {
	d := &Dataset{Source: "s", Train: seq(0, 100), Val: seq(0, 100), MaxToken: 50300}
	err := d.Check(GPT2Vocab, 8)
	if err == nil || !strings.Contains(err.Error(), "token 50300") || !strings.Contains(err.Error(), "50257") {
		t.Fatalf("error %v; want one naming token 50300 and V 50257", err)
	}
	if err := d.Check(50304, 8); err != nil {
		t.Fatal(err)
	}
}

// TestCheckShortValidationShard: a validation shard shorter than a sequence
// (tokenize's --val-fraction too small) is named with that fix; text data
// and a short training split are not.
func TestCheckShortValidationShard(t *testing.T) {
	for _, c := range []struct {
		format     Format
		train, val int
		fraction   bool
	}{
		{Shards, 100, 1, true},
		{Shards, 1, 100, false},
		{Text, 100, 1, false},
	} {
		d := &Dataset{Source: "s", Format: c.format, Train: seq(0, c.train), Val: seq(0, c.val)}
		err := d.Check(TextVocab, 8)
		if err == nil || strings.Contains(err.Error(), "--val-fraction") != c.fraction {
			t.Errorf("%s, %d training and %d validation tokens: error %v; want one that names --val-fraction: %v", c.format, c.train, c.val, err, c.fraction)
		}
	}
}

// TestLoadShardsThroughLinks: a directory of links to shards (a Hugging
// Face snapshot: snapshots/REV/x.bin → ../../blobs/HASH) loads as the shards
// do; a link to a directory or to nothing is not a shard.
func TestLoadShardsThroughLinks(t *testing.T) {
	blobs, snap := t.TempDir(), t.TempDir()
	for name, ts := range map[string][]uint16{"a1": seq(100, 50), "b2": seq(50000, 40)} {
		if err := WriteShard(filepath.Join(blobs, name), ts); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"x_train_000001.bin": "a1", "x_val_000000.bin": "b2", "dir.bin": ".", "gone.bin": "nothing"} {
		if err := os.Symlink(filepath.Join(blobs, target), filepath.Join(snap, link)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := Load(snap, 0)
	if err != nil {
		t.Fatalf("Load(%s): %v", snap, err)
	}
	if d.Format != Shards || len(d.Files) != 2 || !slices.Equal(d.Train, seq(100, 50)) || !slices.Equal(d.Val, seq(50000, 40)) {
		t.Fatalf("Load(%s): format %q, files %q, %d train and %d val tokens; want the two linked shards", snap, d.Format, d.Files, len(d.Train), len(d.Val))
	}
}
