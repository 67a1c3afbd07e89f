// The diagnosis: why each device idled, measured, and the change that would remove most of it, predicted by the replay.

package report

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"baton/internal/words"
	"baton/model"
)

// String words a choice as the flags say it: "1f1b, 8 micro-batches,
// split 3,1,2,2", with chunks and recomputation when they are not the default.
func (c Choice) String() string {
	s := c.Schedule + ", " + words.Count(c.Microbatches, "micro-batch")
	if c.Chunks > 1 {
		s += fmt.Sprintf(", %d chunks", c.Chunks)
	}
	s += ", split " + model.JoinInts(c.Split)
	if c.Recompute != model.RecomputeNone {
		s += ", recompute " + c.Recompute.String()
	}
	return s
}

// Diagnosis is a run's idle time in words: a few sentences on the run and
// one per device, with the changes they suggest as the replay predicts them.
type Diagnosis struct {
	Run     []string `json:"run"`
	Devices []string `json:"devices"`
	// Replayed is the run's own choice replayed on its measured costs (on
	// other devices, the run's choice moved to them): the check on the
	// predictions beside it.
	Replayed   *Prediction `json:"replayed"`
	Rebalanced *Prediction `json:"rebalanced,omitempty"` // the same schedule on the measured min–max split, when it differs
	Best       *Candidate  `json:"best,omitempty"`       // the search's fastest choice, when it differs from both
}

// worthwhile is the predicted gain below which a change is not suggested:
// within the replay's own error.
const worthwhile = 0.03

// unbalanced is the ratio of the most to the least compute per step from
// which stages are called unbalanced; above 1.1 they differ a little (on a
// shared machine equal stages differ by that much).
const unbalanced = 1.25

// Diagnose explains rep, a run of now measured by r, and suggests changes
// from r's predictions within sp. Suggestions fit sp's memory and name it,
// and sp's device count where it is not the run's; the run's own split is
// re-priced only on the run's device count, which it was measured on.
func Diagnose(rep *Report, r *Replay, now Choice, sp Space) (*Diagnosis, error) {
	cur, err := r.Predict(now)
	if err != nil {
		return nil, fmt.Errorf("diagnosis: replaying the run: %w", err)
	}
	if sp.Devices != now.Devices {
		// On other devices the changes are set against the run's choice
		// moved there, split by FLOPs, as a what-if on them has it; where
		// that choice cannot be (interleaving's micro-batches), against
		// the run's own.
		moved := now
		moved.Devices, moved.Split = sp.Devices, nil
		if p, err := r.Predict(moved); err == nil {
			cur = p
		}
	}
	dg := &Diagnosis{Replayed: cur}
	suggested := false
	gain := func(p *Prediction) float64 { return 1 - p.StepS/cur.StepS }
	names := make([]string, len(rep.PerDevice))
	for d, st := range rep.PerDevice {
		names[d] = st.Device
	}
	priced := "the measured layer times"
	if r.Measured == "stages" {
		priced = "the measured stage times, shared among their layers by FLOPs,"
	}
	dg.Run = append(dg.Run, fmt.Sprintf("The bubble measured %.0f%%, against %.0f%% for %s with equal stages; the planner, pricing %s as it prices the changes below, gives %.0f%% and a step of %.1f ms (measured %.1f), against which the changes are set.",
		100*rep.BubbleMeasured, 100*rep.BubbleAnalytic, rep.Schedule, priced, 100*cur.Bubble, 1e3*cur.StepS, 1e3*rep.PipelineS))
	if lo, hi := computeRange(rep); hi > 0 && rep.PerDevice[lo].ComputeS > 0 && rep.PerDevice[hi].ComputeS/rep.PerDevice[lo].ComputeS > 1.1 {
		how := "The stages are unbalanced"
		if rep.PerDevice[hi].ComputeS/rep.PerDevice[lo].ComputeS < unbalanced {
			how = "The stages differ a little"
		}
		dg.Run = append(dg.Run, fmt.Sprintf("%s: %s computes %.1f ms per step, %s %.1f ms (%.1f×).",
			how, names[hi], 1e3*rep.PerDevice[hi].ComputeS, names[lo], 1e3*rep.PerDevice[lo].ComputeS, rep.PerDevice[hi].ComputeS/rep.PerDevice[lo].ComputeS))
	}
	say := scoped(now, sp)
	if sp.Devices == now.Devices {
		c := now
		if c.Split = r.BalancedSplit(now.Devices, max(now.Chunks, 1), now.Recompute, r.fitsIn(now, sp.Capacity)); c.Split != nil && !slices.Equal(c.Split, now.Split) {
			if p, err := r.Predict(c); err == nil && fits(p.PeakBytes, sp.Capacity) {
				dg.Rebalanced = p
				if g := gain(p); g >= worthwhile {
					suggested = true
					how := " (or balancing on measured times)"
					if r.Balanced { // it does, on windows of its own
						how = " (on the measured times of the steps reported here)"
					}
					dg.Run = append(dg.Run, say(fmt.Sprintf("splitting %s instead of %s%s predicts %.0f%% shorter steps (%.1f → %.1f ms, bubble %.0f%%).",
						model.JoinInts(c.Split), model.JoinInts(now.Split), how, 100*g, 1e3*cur.StepS, 1e3*p.StepS, 100*p.Bubble)))
				}
			}
		}
	}
	if all := r.Search(sp); len(all) > 0 {
		best := all[0]
		if g := gain(&best.Prediction); g >= worthwhile && (dg.Rebalanced == nil || best.StepS < dg.Rebalanced.StepS*(1-worthwhile)) {
			dg.Best, suggested = &best, true
			dg.Run = append(dg.Run, say(fmt.Sprintf("the best the planner found is %s: %.0f%% shorter steps (%.1f → %.1f ms, bubble %.0f%%).",
				best.Choice, 100*g, 1e3*cur.StepS, 1e3*best.StepS, 100*best.Bubble)))
		}
	}
	if !suggested {
		dg.Run = append(dg.Run, say(fmt.Sprintf("no split, schedule or micro-batch count the planner tried predicts %.0f%% shorter steps or more.", 100*worthwhile)))
	}
	for d, st := range rep.PerDevice {
		dg.Devices = append(dg.Devices, deviceSentence(st, names, d, rep.PipelineS, r.eager))
	}
	return dg, nil
}

// scoped words a suggestion as a sentence, led by where it was looked for
// when that is not simply the run's devices: another device count (the
// run's measurements stay those of its own), a memory limit.
func scoped(now Choice, sp Space) func(string) string {
	var where []string
	if sp.Devices != now.Devices {
		where = append(where, fmt.Sprintf("on %s instead of the run's %d", words.Count(sp.Devices, "device"), now.Devices))
	}
	if sp.Capacity > 0 {
		where = append(where, "within "+model.HumanBytes(sp.Capacity)+" per device")
	}
	lead := strings.Join(where, ", ")
	return func(s string) string {
		if lead != "" {
			s = lead + ", " + s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	}
}

// computeRange is the devices computing least and most.
func computeRange(rep *Report) (lo, hi int) {
	for d, st := range rep.PerDevice {
		if st.ComputeS < rep.PerDevice[lo].ComputeS {
			lo = d
		}
		if st.ComputeS > rep.PerDevice[hi].ComputeS {
			hi = d
		}
	}
	return lo, hi
}

// idleCause is one named share of a device's idle time and its split by phase.
type idleCause struct {
	what   string
	s      float64
	phases [3]float64 // warm-up, steady, cool-down
}

// deviceSentence says how much device d idled and why: its largest cause,
// in points of the pipeline's time, and the phase it fell in.
func deviceSentence(st DeviceStats, names []string, d int, pipeline float64, eager bool) string {
	if pipeline <= 0 {
		return st.Device + " has no measured time."
	}
	p := len(names)
	prev, next := names[(d-1+p)%p], names[(d+1)%p]
	ph := st.Phases
	byPhase := func(f func(Split) float64) [3]float64 {
		return [3]float64{f(ph.Warmup), f(ph.Steady), f(ph.Cooldown)}
	}
	causes := []idleCause{
		{"waiting on " + prev + " (the stage before)", st.WaitPrevS, byPhase(func(s Split) float64 { return s.WaitPrevS })},
		{"waiting on " + next + " (the stage after) for gradients", st.WaitNextS, byPhase(func(s Split) float64 { return s.WaitNextS })},
		{"copying activations and gradients", st.TransferS + st.RecvCopyS, byPhase(func(s Split) float64 { return s.TransferS + s.RecvCopyS })},
		{optimizerWait(eager), st.OptimizerInSpanS, byPhase(func(s Split) float64 { return s.OptimizerS })},
		{"in gaps no action covers (host overhead)", st.GapS, byPhase(func(s Split) float64 { return s.GapS })},
	}
	slices.SortStableFunc(causes, func(a, b idleCause) int { return cmp.Compare(b.s, a.s) })
	top := causes[0]
	s := fmt.Sprintf("%s idled %.0f%% of the pipeline", st.Device, 100*st.IdleFrac)
	if top.s <= 0 || st.IdleFrac < 0.005 {
		return s + "."
	}
	if pts := math.Round(100 * top.s / pipeline); pts == 1 {
		s += ", 1 point of it " + top.what
	} else {
		s += fmt.Sprintf(", %.0f points of it %s", pts, top.what)
	}
	if phase := phaseOf(top.phases); phase != "" {
		s += " " + phase
	}
	if second := causes[1]; second.s/pipeline >= 0.05 {
		s += fmt.Sprintf("; %.0f points %s", 100*second.s/pipeline, second.what)
	}
	return s + "."
}

// optimizerWait says what a device waits for at the optimizer step: the
// global gradient norm and the tied embedding's gradient, or with the
// eager step (which does not wait for the norm) the embedding's gradient
// and the steps it redoes after a clip.
func optimizerWait(eager bool) string {
	if eager {
		return "at the optimizer step (the eager one: the tied embedding's gradient, and the updates it redoes when the global norm clips)"
	}
	return "at the optimizer step, waiting for the other stages (the global gradient norm, which an eager optimizer step would not wait for, or the tied embedding's gradient)"
}

// phaseOf names the phase holding most of a cause, when one holds most.
func phaseOf(by [3]float64) string {
	total := by[0] + by[1] + by[2]
	i := 0
	for j := range by {
		if by[j] > by[i] {
			i = j
		}
	}
	if total <= 0 || by[i] < 0.6*total {
		return ""
	}
	return [3]string{"in the warm-up", "in the steady phase", "in the cool-down"}[i]
}

// Print writes the diagnosis as paragraphs.
func (dg *Diagnosis) Print(w io.Writer) {
	fmt.Fprintf(w, "diagnosis: %s\n", strings.Join(dg.Run, " "))
	for _, s := range dg.Devices {
		fmt.Fprintf(w, "  %s\n", s)
	}
}
