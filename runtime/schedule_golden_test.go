// Golden files: the lowered grids of small schedules, compared byte for byte; `go test -run Golden -update` rewrites them.
package runtime

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
		name string
		p, m int
		file string
	}{
		{"naive", 2, 1, "naive_p2.txt"},
		{"gpipe", 2, 4, "gpipe_p2_m4.txt"},
		{"1f1b", 4, 8, "1f1b_p4_m8.txt"},
		{"1f1b", 3, 2, "1f1b_p3_m2.txt"},
	} {
		s, err := Generate(c.name, c.p, c.m)
		if err != nil {
			t.Fatal(err)
		}
		low := Lower(s)
		if err := Validate(low); err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprintf("# %s, p=%d, m=%d, lowered, all actions\n", c.name, c.p, s.Microbatches) + low.Grid(true)
		path := filepath.Join("testdata", "schedules", c.file)
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
