// The layout's boundaries, read from `go list`: which package may import what, so that the arrows keep pointing down.

package runtime

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// goList runs `go list -f format [-tags cuda] pkg` and splits its output into words.
func goList(t *testing.T, format, pkg string, cuda bool) []string {
	t.Helper()
	args := []string{"list", "-f", format}
	if cuda {
		args = append(args, "-tags", "cuda")
	}
	out, err := exec.Command("go", append(args, pkg)...).CombinedOutput()
	if err != nil {
		t.Skipf("go list %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

// TestBoundaries checks the arrows of the README's "How it is built" (the
// table of ../shared/DESIGN.md, where the code showed a better cut: the
// report reads the model's plans and shapes): a package's direct imports
// and everything it depends on.
func TestBoundaries(t *testing.T) {
	for _, c := range []struct {
		pkg    string
		cuda   bool
		never  []string // prefixes no dependency may have
		direct []string // standard packages it must not import itself
		only   []string // where given, the only baton packages it may depend on (with those under them)
	}{
		// The pure core: no devices, goroutines or clocks.
		{pkg: "baton/runtime/schedule", never: []string{"baton/"}, direct: []string{"sync", "time", "os", "runtime"}},
		{pkg: "baton/runtime/device", never: []string{"baton/runtime", "baton/transformer", "baton/model", "gorgonia.org/cu"}},
		{pkg: "baton/runtime/device/cuda", cuda: true, never: []string{"baton/runtime/report", "baton/runtime/schedule", "baton/transformer"}},
		// The README's arrows: the schedule and the model (plans, shapes), and the messages' helpers.
		{pkg: "baton/runtime/report", only: []string{"baton/runtime/schedule", "baton/model", "baton/internal"}},
		// The network under several processes: the standard library only.
		{pkg: "baton/runtime/dist", never: []string{"baton/"}},
		// The decoder's math only.
		{pkg: "baton/transformer", never: []string{"baton/runtime"}, direct: []string{"sync", "sync/atomic"}},
		// The driver API only behind the cuda build tag.
		{pkg: "baton/cmd/baton", never: []string{"gorgonia.org/cu"}},
	} {
		deps := goList(t, `{{join .Deps "\n"}}`, c.pkg, c.cuda)
		for _, d := range deps {
			if c.only != nil && strings.HasPrefix(d, "baton/") && !slices.ContainsFunc(c.only, func(p string) bool { return d == p || strings.HasPrefix(d, p+"/") }) {
				t.Errorf("%s depends on %s; it may depend on %s only", c.pkg, d, strings.Join(c.only, ", "))
			}
			for _, p := range c.never {
				if d == p || strings.HasPrefix(d, p+"/") || strings.HasSuffix(p, "/") && strings.HasPrefix(d, p) {
					t.Errorf("%s depends on %s; it must not depend on %s", c.pkg, d, p)
				}
			}
		}
		imports := goList(t, `{{join .Imports "\n"}}`, c.pkg, c.cuda)
		for _, p := range c.direct {
			if slices.Contains(imports, p) {
				t.Errorf("%s imports %s", c.pkg, p)
			}
		}
	}
}

// TestCUDAOnlyWithTheTag: a CPU build links no
// CUDA driver, so the cuda device is in the cuda build only.
func TestCUDAOnlyWithTheTag(t *testing.T) {
	for _, pkg := range []string{"baton/runtime", "baton/cmd/baton", "baton/bench"} {
		if deps := goList(t, `{{join .Deps "\n"}}`, pkg, false); slices.Contains(deps, "baton/runtime/device/cuda") || slices.Contains(deps, "baton/kernels/cuda") {
			t.Errorf("%s depends on a CUDA package without -tags cuda", pkg)
		}
	}
}
