// Golden files: the lowered grids of small schedules, compared byte for byte; `go test -run Golden -update` rewrites them.

package schedule

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/ instead of comparing with them")

func TestGoldenScheduleGrids(t *testing.T) {
	for _, c := range []struct {
		name    string
		p, m, v int
		file    string
	}{
		{"naive", 2, 1, 1, "naive_p2.txt"},
		{"gpipe", 2, 4, 1, "gpipe_p2_m4.txt"},
		{"1f1b", 4, 8, 1, "1f1b_p4_m8.txt"},
		{"1f1b", 3, 2, 1, "1f1b_p3_m2.txt"},
		{"interleaved", 2, 4, 2, "interleaved_p2_v2_m4.txt"},
		{"zb-h1", 4, 8, 1, "zb-h1_p4_m8.txt"},
		{"zb-h2", 4, 8, 1, "zb-h2_p4_m8.txt"},
	} {
		s, err := GenerateChunks(c.name, c.p, c.m, c.v)
		if err != nil {
			t.Fatal(err)
		}
		low := Lower(s)
		if err := Validate(low); err != nil {
			t.Fatal(err)
		}
		chunks := ""
		if c.v > 1 {
			chunks = fmt.Sprintf(", v=%d", c.v)
		}
		got := fmt.Sprintf("# %s, p=%d%s, m=%d, lowered, all actions\n", c.name, c.p, chunks, s.Microbatches) + low.Grid(true)
		path := filepath.Join("testdata", "golden", c.file)
		if *updateGolden {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./runtime/ -run Golden -update to write it)", err)
		}
		if got != string(want) {
			t.Errorf("%s differs from the grid (if the change is intended, rerun with -update):\n got:\n%s\nwant:\n%s", path, got, want)
		}
	}
}
