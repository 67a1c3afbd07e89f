//go:build unix

// Ranks given the same --data path that holds other text on each (other hosts, other working directories) are refused by every rank, naming the checksums.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

func TestRanksWithOtherDataAreRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	text, err := os.ReadFile(corpus)
	if err != nil {
		t.Fatal(err)
	}
	port := freeTCPPort(t)
	var ranks []*child
	for r, body := range [][]byte{text, append([]byte("other text first\n"), text...)} {
		cwd := filepath.Join(dir, "host"+string(rune('a'+r)))
		if err := os.MkdirAll(cwd, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(cwd, "data.txt"), body, 0o644); err != nil {
			t.Fatal(err)
		}
		ranks = append(ranks, startChildEnv(t, cwd, rankEnv(r, 2, port), "train", "--model", "tiny", "--devices", "cpu:0", "--data", "data.txt",
			"--steps", "3", "--out", filepath.Join(dir, "run"), "--timeout", "20s", "--quiet"))
	}
	for r, c := range ranks {
		// Status 2, as for any setting the ranks were started with unlike.
		want := regexp.MustCompile(fmt.Sprintf(`baton: rank %d of 2: the ranks read different data: the sha256 of rank 0's tokens is [0-9a-f]{12}, rank 1's is [0-9a-f]{12} \(this rank read data\.txt\); give every rank the same --data\n$`, r))
		endsWithin(t, c, fmt.Sprint("rank ", r), 30*time.Second, 2, want)
	}
}
