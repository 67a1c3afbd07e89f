// Simulate: a replay of a lowered schedule on a cost model, with no devices, that predicts idle time and finds deadlocks.

package schedule

import (
	"fmt"
	"math"
)

// TimedAction is one action's place on a simulated timeline.
type TimedAction struct {
	Action     Action
	Start, End float64 // a receive starts when its device reaches it and ends after its send has
	Wait       float64 // a receive's wait for its send, from Start
}

// Timeline is what Simulate predicts for one step.
type Timeline struct {
	Actions  [][]TimedAction // per device, in list order
	Busy     []float64       // per device: time in compute actions (F, B, I, W)
	IdleFrac []float64       // per device: 1 − Busy/StepTime (0 when StepTime is 0)
	StepTime float64         // the latest end of any action
	Bubble   float64         // mean of IdleFrac over devices

	// The same step repeated with no barrier between steps: see steady.
	SteadyPeriod float64 // time per step: the longest device span
	SteadyBubble float64 // mean over devices of 1 − Busy/SteadyPeriod
}

// UniformCost is the cost model of the analytic bubble: every forward costs
// f, every full backward b, I and W b/2 each (together one backward), and
// communication and STEP nothing.
func UniformCost(f, b float64) func(Action) float64 {
	return func(a Action) float64 {
		switch a.Kind {
		case F:
			return f
		case B:
			return b
		case I, W:
			return b / 2
		}
		return 0
	}
}

// Simulate replays s, each device running its list in order as soon as it
// can: an action starts when the previous one on its device ended, and a
// RECV cannot end before its matching SEND has (sends never block). The
// result does not depend on the order devices are visited in. s must be
// lowered when it has more than one stage, since its receives are the only
// dependencies between devices; Validate it first for the order rules. If no
// device can progress, the error says what each one is waiting for.
func Simulate(s *Schedule, cost func(Action) float64) (*Timeline, error) {
	if err := validateShape(s); err != nil {
		return nil, err
	}
	if cost == nil {
		return nil, fmt.Errorf("simulate %s: nil cost model; pass UniformCost(1, 2) for instance", s.Name)
	}
	if s.Stages > 1 && !hasComm(s) {
		return nil, fmt.Errorf("simulate %s: the schedule has no sends or receives, so its devices would not wait on each other; lower it first with Lower", s.Name)
	}
	p := len(s.Lists)
	tl := &Timeline{Actions: make([][]TimedAction, p), Busy: make([]float64, p), IdleFrac: make([]float64, p)}
	next := make([]int, p)       // index of each device's next action
	clock := make([]float64, p)  // when each device is free
	sent := map[Action]float64{} // end of every send replayed so far
	left := 0
	for _, l := range s.Lists {
		left += len(l)
	}
	for left > 0 {
		progressed := false
		for d, list := range s.Lists {
			for ; next[d] < len(list); next[d]++ {
				a := list[next[d]]
				ready := clock[d]
				if a.Kind == RecvF || a.Kind == RecvB {
					t, ok := sent[partner(a)]
					if !ok {
						break
					}
					ready = max(ready, t)
				}
				c := cost(a)
				if c < 0 || math.IsNaN(c) || math.IsInf(c, 0) {
					return nil, fmt.Errorf("simulate %s: cost of %s is %v; costs must be finite and at least 0", s.Name, a, c)
				}
				end := ready + c
				tl.Actions[d] = append(tl.Actions[d], TimedAction{Action: a, Start: clock[d], End: end, Wait: ready - clock[d]})
				if a.Kind == SendF || a.Kind == SendB {
					sent[a] = end
				}
				if a.Kind.IsCompute() {
					tl.Busy[d] += c
				}
				clock[d] = end
				tl.StepTime = max(tl.StepTime, end)
				left--
				progressed = true
			}
		}
		if !progressed {
			return nil, deadlockError(s, next)
		}
	}
	for d := range p {
		if tl.StepTime > 0 {
			tl.IdleFrac[d] = 1 - tl.Busy[d]/tl.StepTime
		}
		tl.Bubble += tl.IdleFrac[d] / float64(p)
	}
	tl.steady()
	return tl, nil
}
