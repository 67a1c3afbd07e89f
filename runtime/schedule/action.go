// Actions: the values schedules are made of, printed as "2F0" and parsed back.

package schedule

import (
	"fmt"
	"strconv"
	"strings"
)

// Kind is what an action does.
type Kind uint8

// The action kinds. F, B, I and W compute; the others move data or update.
const (
	F        Kind = iota // forward of one micro-batch
	B                    // full backward (input and weight gradients)
	I                    // backward, input gradient only
	W                    // backward, weight gradient only
	SendF                // send a forward activation to the next stage
	RecvF                // receive a forward activation from the previous stage
	SendB                // send an input gradient to the previous stage
	RecvB                // receive an output gradient from the next stage
	Step                 // optimizer step of the stage's parameters
	NumKinds             // the number of kinds, for arrays indexed by Kind
)

var kindNames = [NumKinds]string{"F", "B", "I", "W", "SEND_F", "RECV_F", "SEND_B", "RECV_B", "STEP"}

func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// IsCompute says whether k runs kernels on the stage's own data.
func (k Kind) IsCompute() bool { return k <= W }

// Action is one unit of a schedule: a kind applied by a stage to a
// micro-batch. Step has no micro-batch (-1).
type Action struct {
	Stage      int
	Kind       Kind
	Microbatch int
}

// String prints stage, kind, micro-batch: "2F0", "1RECV_B3", "0STEP".
func (a Action) String() string {
	if a.Kind == Step {
		return fmt.Sprintf("%d%s", a.Stage, a.Kind)
	}
	return fmt.Sprintf("%d%s%d", a.Stage, a.Kind, a.Microbatch)
}

// maxIndex bounds a stage or micro-batch number in an action, far above
// any schedule's, so that counting them (one more than the largest) cannot
// overflow.
const maxIndex = 1 << 30

// ParseAction is the inverse of Action.String.
func ParseAction(s string) (Action, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return Action{}, fmt.Errorf("action %q: want a stage number first, as in 2F0", s)
	}
	stage, err := strconv.Atoi(s[:i])
	if err != nil || stage > maxIndex {
		return Action{}, fmt.Errorf("action %q: stage %s; a schedule has at most %d stages", s, s[:i], maxIndex)
	}
	rest := s[i:]
	j := len(rest)
	for j > 0 && rest[j-1] >= '0' && rest[j-1] <= '9' {
		j--
	}
	name, num := rest[:j], rest[j:]
	if strings.HasSuffix(name, "-") && num != "" {
		return Action{}, fmt.Errorf("action %q: micro-batch -%s; micro-batches are numbered from 0", s, num)
	}
	for k := Kind(0); k < NumKinds; k++ {
		if !strings.EqualFold(name, kindNames[k]) {
			continue
		}
		if k == Step {
			if num != "" {
				return Action{}, fmt.Errorf("action %q: STEP takes no micro-batch", s)
			}
			return Action{Stage: stage, Kind: k, Microbatch: -1}, nil
		}
		if num == "" {
			return Action{}, fmt.Errorf("action %q: %s needs a micro-batch number, as in %d%s0", s, k, stage, k)
		}
		mb, err := strconv.Atoi(num)
		if err != nil || mb > maxIndex {
			return Action{}, fmt.Errorf("action %q: micro-batch %s; a schedule has at most %d micro-batches", s, num, maxIndex)
		}
		return Action{Stage: stage, Kind: k, Microbatch: mb}, nil
	}
	return Action{}, fmt.Errorf("action %q: unknown kind %q; want one of %s", s, name, strings.Join(kindNames[:], ", "))
}
