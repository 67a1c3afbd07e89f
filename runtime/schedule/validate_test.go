// Tests of Validate: hand-broken schedules are rejected with messages that point at the culprit.

package schedule

import (
	"strings"
	"testing"
)

// gpipe with 2 devices and 2 micro-batches, lowered, for breaking by hand.
const (
	validDev0 = "0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0B0 0RECV_B1 0B1 0STEP"
	validDev1 = "1RECV_F0 1F0 1RECV_F1 1F1 1B0 1SEND_B0 1B1 1SEND_B1 1STEP"
)

func TestValidateAccepts(t *testing.T) {
	for _, c := range []struct {
		name  string
		p, m  int
		lines []string
	}{
		{"lowered gpipe", 2, 2, []string{validDev0, validDev1}},
		{"compute only", 2, 1, []string{"0F0 0B0 0STEP", "1F0 1B0 1STEP"}},
		{"split backward", 2, 2, []string{
			"0F0 0SEND_F0 0F1 0SEND_F1 0RECV_B0 0I0 0RECV_B1 0I1 0W1 0W0 0STEP",
			"1RECV_F0 1F0 1I0 1SEND_B0 1RECV_F1 1F1 1I1 1SEND_B1 1W0 1W1 1STEP"}},
		{"B on one micro-batch, I/W on another", 1, 2, []string{"0F0 0F1 0B0 0I1 0W1 0STEP"}},
	} {
		if err := Validate(scheduleOf(t, c.p, c.m, c.lines...)); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// Two stages per device, dealt round-robin: device 0 holds 0 and 2; a
// device's STEPs end its list, whichever stages they are of.
func TestValidateChunks(t *testing.T) {
	s := &Schedule{Name: "test", Devices: 2, Stages: 4, Chunks: 2, Microbatches: 1, Lists: [][]Action{
		actionsOf(t, "0F0 0SEND_F0 2RECV_F0 2F0 2SEND_F0 2RECV_B0 2B0 2SEND_B0 0RECV_B0 0B0 2STEP 0STEP"),
		actionsOf(t, "1RECV_F0 1F0 1SEND_F0 3RECV_F0 3F0 3B0 3SEND_B0 1RECV_B0 1B0 1SEND_B0 1STEP 3STEP"),
	}}
	if err := Validate(s); err != nil {
		t.Error(err)
	}
	if _, err := Simulate(s, UniformCost(1, 2)); err != nil {
		t.Error(err)
	}
	// One stage's STEP before the other's backward: the executor runs a
	// device's STEPs together, at its list's end.
	early := &Schedule{Name: "test", Devices: 2, Stages: 4, Chunks: 2, Microbatches: 1, Lists: [][]Action{
		actionsOf(t, "0F0 0SEND_F0 2RECV_F0 2F0 2SEND_F0 2RECV_B0 2B0 2SEND_B0 2STEP 0RECV_B0 0B0 0STEP"),
		s.Lists[1],
	}}
	if err := Validate(early); err == nil || !strings.Contains(err.Error(), "device 0, action 9 (0RECV_B0): 0RECV_B0 follows a STEP of this device; a device's STEPs end its list: move them after its other actions (the other: action 8)") {
		t.Errorf("a STEP before another stage's backward on its device: %v", err)
	}
	s.Lists[0], s.Lists[1] = s.Lists[1], s.Lists[0]
	if err := Validate(s); err == nil || !strings.Contains(err.Error(), "device 0, action 0 (1RECV_F0): stage 1 lives on device 1") {
		t.Errorf("lists swapped: %v", err)
	}
}

func TestValidateRejects(t *testing.T) {
	for _, c := range []struct {
		name  string
		p, m  int
		lines []string
		want  string
	}{
		{"missing B", 2, 2, []string{"0F0 0F1 0B0 0B1 0STEP", "1F0 1F1 1B0 1STEP"},
			"device 1, action 3 (1STEP): micro-batch 1 has no backward before the STEP"},
		{"missing B and STEP", 1, 2, []string{"0F0 0F1 0B0"},
			"device 0: stage 0 never runs the backward of micro-batch 1 (0B1, or 0I1 then 0W1)"},
		{"missing F", 1, 2, []string{"0F0 0B0 0STEP"},
			"device 0, action 2 (0STEP): micro-batch 1 has no backward before the STEP"},
		{"missing F, no STEP", 1, 2, []string{"0F0 0B0"},
			"device 0: stage 0 never runs the forward of micro-batch 1 (0F1)"},
		{"missing STEP", 1, 1, []string{"0F0 0B0"},
			"device 0: stage 0 has no STEP; end its actions with 0STEP"},
		{"B before F", 1, 2, []string{"0F0 0B1 0F1 0B0 0STEP"},
			"device 0, action 1 (0B1): micro-batch 1 has no forward before its backward"},
		{"duplicated F", 2, 2, []string{"0F0 0F1 0F0 0B0 0B1 0STEP", "1F0 1F1 1B0 1B1 1STEP"},
			"device 0, action 2 (0F0): micro-batch 0 already has a forward on stage 0; each runs once per micro-batch (the other: action 0)"},
		{"duplicated B", 1, 1, []string{"0F0 0B0 0B0 0STEP"},
			"device 0, action 2 (0B0): micro-batch 0 already has a backward on stage 0; each runs once per micro-batch (the other: action 1)"},
		{"STEP in the middle", 1, 2, []string{"0F0 0B0 0STEP 0F1 0B1"},
			"device 0, action 2 (0STEP): micro-batch 1 has no backward before the STEP"},
		{"action after STEP", 2, 1, []string{"0F0 0B0 0STEP 0B0", "1F0 1B0 1STEP"},
			"device 0, action 3 (0B0): stage 0 already ran its STEP; STEP must be the stage's last action (the other: action 2)"},
		{"two STEPs", 1, 1, []string{"0F0 0B0 0STEP 0STEP"},
			"device 0, action 3 (0STEP): stage 0 already ran its STEP; STEP must be the stage's last action (the other: action 2)"},
		{"unmatched RECV_F", 2, 2, []string{
			"0F0 0SEND_F0 0F1 0RECV_B0 0B0 0RECV_B1 0B1 0STEP", validDev1},
			"device 1, action 2 (1RECV_F1): no matching 0SEND_F1 on device 0; the receive would wait forever"},
		{"unmatched RECV_B", 2, 2, []string{validDev0,
			"1RECV_F0 1F0 1RECV_F1 1F1 1B0 1SEND_B0 1B1 1STEP"},
			"device 0, action 6 (0RECV_B1): no matching 1SEND_B1 on device 1; the receive would wait forever"},
		{"unmatched SEND_F", 2, 1, []string{"0F0 0SEND_F0 0RECV_B0 0B0 0STEP", ""},
			"device 0, action 1 (0SEND_F0): no matching 1RECV_F0 on device 1; nobody receives what it sends"},
		{"receive after its forward", 2, 2, []string{validDev0,
			"1F0 1RECV_F0 1RECV_F1 1F1 1B0 1SEND_B0 1B1 1SEND_B1 1STEP"},
			"device 1, action 0 (1F0): no 1RECV_F0 before the forward; a lowered schedule receives every activation (give every send and receive, or none for baton to add them)"},
		{"receive after its backward", 2, 1, []string{
			"0F0 0SEND_F0 0B0 0RECV_B0 0STEP", "1RECV_F0 1F0 1B0 1SEND_B0 1STEP"},
			"device 0, action 2 (0B0): no 0RECV_B0 before the backward"},
		{"send before compute", 2, 1, []string{
			"0SEND_F0 0F0 0RECV_B0 0B0 0STEP", "1RECV_F0 1F0 1B0 1SEND_B0 1STEP"},
			"device 0, action 0 (0SEND_F0): sends micro-batch 0's activation before its forward"},
		{"missing SEND_B", 2, 1, []string{
			"0F0 0SEND_F0 0RECV_B0 0B0 0STEP", "1RECV_F0 1F0 1B0 1STEP"},
			"device 0, action 2 (0RECV_B0): no matching 1SEND_B0 on device 1; the receive would wait forever"},
		{"send from the last stage", 2, 1, []string{
			"0F0 0SEND_F0 0RECV_B0 0B0 0STEP", "1RECV_F0 1F0 1SEND_F0 1B0 1SEND_B0 1STEP"},
			"device 1, action 2 (1SEND_F0): the last stage has no next stage to send an activation to"},
		{"receive on stage 0", 1, 1, []string{"0RECV_F0 0F0 0B0 0STEP"},
			"device 0, action 0 (0RECV_F0): stage 0 has no previous stage to receive an activation from"},
		{"wrong device", 2, 1, []string{"0F0 0B0 1F0 0STEP", "1B0 1STEP"},
			"device 0, action 2 (1F0): stage 1 lives on device 1 (stage mod devices), not device 0"},
		{"stage out of range", 2, 1, []string{"0F0 0B0 0STEP", "1F0 1B0 3F0 1STEP"},
			"device 1, action 2 (3F0): stage 3 out of range; the schedule has stages 0..1"},
		{"micro-batch out of range", 1, 2, []string{"0F0 0F2 0B0 0STEP"},
			"device 0, action 1 (0F2): micro-batch 2 out of range; the schedule has micro-batches 0..1"},
		{"W before I", 1, 1, []string{"0F0 0W0 0I0 0STEP"},
			"device 0, action 1 (0W0): micro-batch 0 has no I before its W"},
		{"I before F", 1, 1, []string{"0I0 0F0 0W0 0STEP"},
			"device 0, action 0 (0I0): micro-batch 0 has no forward before its input-gradient backward (I)"},
		{"B and I", 1, 1, []string{"0F0 0B0 0I0 0W0 0STEP"},
			"device 0, action 2 (0I0): micro-batch 0 mixes B with I/W"},
		{"I without W", 1, 1, []string{"0F0 0I0 0STEP"},
			"device 0, action 2 (0STEP): micro-batch 0 has an I but no W before the STEP"},
		{"I without W, no STEP", 1, 1, []string{"0F0 0I0"},
			"device 0, action 1 (0I0): micro-batch 0 has no W after its I"},
		{"too few lists", 2, 1, []string{"0F0 0B0 0STEP"},
			"1 action lists for 2 devices; want one list per device"},
	} {
		err := Validate(scheduleOf(t, c.p, c.m, c.lines...))
		if err == nil {
			t.Errorf("%s: Validate accepted it, want %q", c.name, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s:\n got %v\nwant %q", c.name, err, c.want)
		}
		if !strings.Contains(c.want, "(the other:") && strings.Contains(err.Error(), "(the other:") {
			t.Errorf("%s: %v names another action, though nothing clashes", c.name, err)
		}
	}
}

func TestValidateShape(t *testing.T) {
	if err := Validate(nil); err == nil || !strings.Contains(err.Error(), "nil schedule") {
		t.Errorf("Validate(nil) = %v", err)
	}
	s := &Schedule{Name: "x", Devices: 2, Stages: 3, Chunks: 1, Microbatches: 1, Lists: make([][]Action, 2)}
	if err := Validate(s); err == nil || !strings.Contains(err.Error(), "want stages = devices × chunks = 2") {
		t.Errorf("3 stages on 2 devices: %v", err)
	}
	s = &Schedule{Name: "x", Devices: 1, Stages: 1, Chunks: 1, Microbatches: 1,
		Lists: [][]Action{{{Stage: 0, Kind: F}, {Stage: 0, Kind: B}, {Stage: 0, Kind: Step}}}}
	if err := Validate(s); err == nil || !strings.Contains(err.Error(), "STEP has micro-batch 0; set it to -1") {
		t.Errorf("STEP with micro-batch 0: %v", err)
	}
}

// actionsOf parses one line of actions.
func actionsOf(t *testing.T, line string) []Action {
	t.Helper()
	return scheduleOf(t, 1, 1, line).Lists[0]
}
