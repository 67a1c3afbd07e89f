// The critical path of a step: the chain of actions, across devices, that set the step's length.

package report

import (
	"fmt"
	"time"

	"baton/runtime/schedule"
)

// PathNode is one action on a critical path: step.Records[Device][Index].
type PathNode struct {
	Device int `json:"device"`
	Index  int `json:"index"`
}

// pathMinWait is the least wait that makes a receive hand the path over to
// its sender: below it the receive was as good as ready, and timer jitter
// would make the path hop between devices at random.
const pathMinWait = 10 * time.Microsecond

// pathWaited says whether r is a receive whose wait put it on its sender's
// chain: more than pathMinWait and more than 2% of its duration.
func pathWaited(r Record) bool {
	if r.Action.Kind != schedule.RecvF && r.Action.Kind != schedule.RecvB {
		return false
	}
	return r.Wait > max(pathMinWait, (r.End-r.Start)/50)
}

// pathSender is the send a receive waits for: RECV_F of stage s from
// SEND_F of stage s−1, RECV_B of stage s from SEND_B of stage s+1.
func pathSender(a schedule.Action) schedule.Action {
	if a.Kind == schedule.RecvF {
		return schedule.Action{Stage: a.Stage - 1, Kind: schedule.SendF, Microbatch: a.Microbatch}
	}
	return schedule.Action{Stage: a.Stage + 1, Kind: schedule.SendB, Microbatch: a.Microbatch}
}

// CriticalPath walks back from the compute action that ends last: a receive
// that waited continues at the send it waited for, on whichever device holds
// it; anything else continues at the action before it on its own device. A
// receive whose send had ended before the receive began counts as not having
// waited whatever its Wait says: the data was there, and the measured wait is
// the host's jitter (seen on virtual devices sharing cores).
// The path is returned in time order; nil when the step computed nothing.
// Every action is visited at most once, so malformed records cannot loop.
func CriticalPath(step *Step) []PathNode {
	if step == nil {
		return nil
	}
	at, found := PathNode{}, false
	var last time.Duration
	sends := map[schedule.Action]PathNode{}
	for d, recs := range step.Records {
		for i, r := range recs {
			if r.Action.Kind.IsCompute() && (!found || r.End > last) {
				at, found, last = PathNode{d, i}, true, r.End
			}
			if r.Action.Kind == schedule.SendF || r.Action.Kind == schedule.SendB {
				sends[r.Action] = PathNode{d, i}
			}
		}
	}
	if !found {
		return nil
	}
	seen := map[PathNode]bool{}
	var path []PathNode
	for !seen[at] {
		seen[at] = true
		path = append(path, at)
		r := step.Records[at.Device][at.Index]
		if pathWaited(r) {
			if s, ok := sends[pathSender(r.Action)]; ok && step.Records[s.Device][s.Index].End > r.Start {
				at = s
				continue
			}
		}
		if at.Index == 0 {
			break
		}
		at.Index--
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return path
}

// pathShares is each node's share of the path's length: from the later of
// its start and the previous node's end, to its end. A receive that waited
// thus counts only its copy (its wait is the sender's time, already on the
// path), and the shares with the gaps between nodes tile [0, last end).
func pathShares(step *Step, path []PathNode) (shares []time.Duration, gap time.Duration) {
	shares = make([]time.Duration, len(path))
	var prevEnd time.Duration
	for i, n := range path {
		r := step.Records[n.Device][n.Index]
		from := max(r.Start, prevEnd)
		gap += max(r.Start-prevEnd, 0)
		shares[i] = max(r.End-from, 0)
		prevEnd = max(prevEnd, r.End)
	}
	return shares, gap
}

// PathReport is where the steps' critical paths ran, mean seconds per step.
type PathReport struct {
	LengthS       float64      `json:"length_s"`        // origin to the path's end: the pipeline span
	GapS          float64      `json:"gap_s"`           // on the path but covered by none of its actions
	PerDevice     []PathDevice `json:"per_device"`      // the rest of LengthS, by device
	StageComputeS []float64    `json:"stage_compute_s"` // per stage: its forward and backward on the path
	HeldUpBy      string       `json:"held_up_by"`      // the stage with the most compute on the path, in words
}

// PathDevice is one device's part of the critical path.
type PathDevice struct {
	Device   string  `json:"device"`
	PathS    float64 `json:"path_s"`    // its actions' shares of the path
	ComputeS float64 `json:"compute_s"` // of which forward and backward
}

// newPathReport sizes a report for these devices and stages.
func newPathReport(devices []string, stages int) *PathReport {
	pr := &PathReport{PerDevice: make([]PathDevice, len(devices)), StageComputeS: make([]float64, stages)}
	for d, name := range devices {
		pr.PerDevice[d].Device = name
	}
	return pr
}

// add accumulates one step's path, weighted.
func (pr *PathReport) add(step *Step, weight float64) {
	path := CriticalPath(step)
	shares, gap := pathShares(step, path)
	pr.GapS += gap.Seconds() * weight
	for i, n := range path {
		r := step.Records[n.Device][n.Index]
		sec := shares[i].Seconds() * weight
		pr.LengthS += sec
		if n.Device >= len(pr.PerDevice) {
			continue
		}
		pd := &pr.PerDevice[n.Device]
		pd.PathS += sec
		if r.Action.Kind.IsCompute() {
			pd.ComputeS += sec
			for len(pr.StageComputeS) <= r.Action.Stage {
				pr.StageComputeS = append(pr.StageComputeS, 0)
			}
			pr.StageComputeS[r.Action.Stage] += sec
		}
	}
	pr.LengthS += gap.Seconds() * weight
}

// finish writes HeldUpBy; deviceOf names the device of a stage.
func (pr *PathReport) finish(deviceOf func(stage int) string) {
	top := -1
	for s, c := range pr.StageComputeS {
		if c > 0 && (top < 0 || c > pr.StageComputeS[top]) {
			top = s
		}
	}
	if top < 0 || pr.LengthS <= 0 {
		pr.HeldUpBy = "nothing: no compute on the critical path"
		return
	}
	pr.HeldUpBy = fmt.Sprintf("stage %d (%s): its forward and backward are %.0f%% of the critical path",
		top, deviceOf(top), 100*pr.StageComputeS[top]/pr.LengthS)
}
