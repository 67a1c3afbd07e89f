// The idle report of an interleaved run: a device runs several stages, and the report names them all.

package report

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"baton/runtime/schedule"
)

// TestReportNamesEveryStageOfADevice: with chunks a device runs several
// stages (d, d+p, …); the report names them all, not its first alone.
func TestReportNamesEveryStageOfADevice(t *testing.T) {
	sched, err := schedule.GenerateChunks("interleaved", 2, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := schedule.Simulate(schedule.Lower(sched), func(schedule.Action) float64 { return 1e-3 })
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Build(schedule.Lower(sched), []DeviceInfo{{Name: "cpu:0"}, {Name: "cpu:1"}}, []*Step{Simulated(tl, time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := rep.PerDevice[0].Stages, rep.PerDevice[1].Stages; !slices.Equal(a, []int{0, 2}) || !slices.Equal(b, []int{1, 3}) {
		t.Errorf("the devices run stages %v and %v; want [0 2] and [1 3]", a, b)
	}
	var text strings.Builder
	rep.Print(&text)
	if !regexp.MustCompile(`(?m)^\s*cpu:0\s+0,2\s`).MatchString(text.String()) {
		t.Errorf("the report does not name cpu:0's stages 0,2:\n%s", text.String())
	}
}
