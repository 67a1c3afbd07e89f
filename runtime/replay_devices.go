// A what-if on other devices: each device asked for priced by the run's device of its name, a slowed CPU device's cost rescaled, one the run lacked at the mean.

package runtime

import (
	"fmt"
	"strconv"
	"strings"

	"baton/runtime/device"
	"baton/runtime/report"
)

// ReplayOn is r, the replay of the run sum, for a what-if on the devices
// asked, with notes on how some are priced. Each device is priced by the
// run's device of its name; or by the run's of the same device at another
// slow-down (cpu:1 for the run's cpu:1~3), its cost rescaled by their
// ratio, as a slow-down stretches every unit of work; or, for a device the
// run did not have, at the mean of the run's devices, slow-downs removed.
// A run of several ranks names its devices by rank (rank1/cpu:0), which a
// what-if cannot (two ranks' cpu:0 are two devices): its devices are taken
// in order, each rescaled by its slow-down against the rank's device's.
func ReplayOn(sum *Summary, r *report.Replay, asked []device.Name) (*report.Replay, []string) {
	from, scale, runSlow := make([]int, len(asked)), make([]float64, len(asked)), make([]float64, len(sum.Devices))
	run := make([]device.Name, len(sum.Devices))
	byName := true
	for j, d := range sum.Devices {
		local, ranked := rankLocal(d)
		n, err := device.ParseName(local)
		byName = byName && err == nil && !ranked
		run[j], runSlow[j] = n, n.SlowDown()
	}
	var notes []string
	for i, a := range asked {
		from[i], scale[i] = -1, a.SlowDown()
		if !byName {
			if i >= len(run) {
				notes = append(notes, fmt.Sprintf("device %d (%s) was not in the run: its blocks are priced at the mean of the run's devices%s", i, a, slowNote(a)))
				continue
			}
			from[i], scale[i] = i, a.SlowDown()/runSlow[i]
			if scale[i] != 1 {
				notes = append(notes, fmt.Sprintf("device %d (%s) is the run's %s at %s times its measured time", i, a, sum.Devices[i], strconv.FormatFloat(scale[i], 'g', 3, 64)))
			}
			continue
		}
		for j, n := range run {
			if n == a {
				from[i], scale[i] = j, 1
				break
			}
			if n.Device() == a.Device() && from[i] < 0 {
				from[i], scale[i] = j, a.SlowDown()/n.SlowDown()
			}
		}
		switch j := from[i]; {
		case j < 0:
			notes = append(notes, fmt.Sprintf("%s was not in the run: its blocks are priced at the mean of the run's devices%s", a, slowNote(a)))
		case run[j] != a:
			notes = append(notes, fmt.Sprintf("%s is the run's %s at %s times its measured time", a, run[j], strconv.FormatFloat(scale[i], 'g', 3, 64)))
		}
	}
	return r.OnDevices(from, scale, runSlow), notes
}

// slowNote says what a slowed device's price adds to the mean.
func slowNote(n device.Name) string {
	if n.Slow <= 1 {
		return ""
	}
	return ", times its slow-down " + strconv.FormatFloat(n.Slow, 'g', -1, 64)
}

// rankLocal is a run's device name as its rank named it (cpu:0 of
// rank1/cpu:0), and whether it was a rank's.
func rankLocal(d string) (string, bool) {
	if rank, local, ok := strings.Cut(d, "/"); ok && strings.HasPrefix(rank, "rank") {
		return local, true
	}
	return d, false
}
