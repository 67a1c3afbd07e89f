// Schedules as data: one action list per device, made by a named generator from (devices, micro-batches, chunks).

package schedule

import "fmt"

// Schedule is what every device does in one training step, in order.
// Lists[d] is device d's action list. A schedule from Generate holds compute
// actions and STEPs only; Lower adds the sends and receives the executor needs.
type Schedule struct {
	// Name is a row of the trait table (Lookup), or FilePrefix and the
	// name of the file a schedule was read from (ReadCSV).
	Name         string
	Devices      int // p
	Stages       int // Devices × Chunks
	Microbatches int // m
	Chunks       int // v: stages per device (1 for all but interleaved)
	Lists        [][]Action
}

// DeviceOf is the device that holds stage: stages are dealt round-robin, so
// with v chunks device d holds stages d, d+p, d+2p, … This is the only place
// the mapping is written down.
func (s *Schedule) DeviceOf(stage int) int { return stage % s.Devices }

// StageDevices names the device of every stage, given the devices' names:
// what the planner takes to place stages.
func (s *Schedule) StageDevices(names []string) []string {
	out := make([]string, s.Stages)
	for st := range out {
		out[st] = names[s.DeviceOf(st)]
	}
	return out
}

// Generate makes the named schedule for devices (p) devices and microbatches
// (m) micro-batches, one stage per device: GenerateChunks with one chunk.
func Generate(name string, devices, microbatches int) (*Schedule, error) {
	return GenerateChunks(name, devices, microbatches, 1)
}

// Bounds on a schedule's sizes, so that a typo cannot make the generators
// and the simulator run for minutes: far past any pipeline baton runs.
const (
	MaxStages            = 1024
	MaxMicrobatches      = 1 << 14
	MaxStageMicrobatches = 1 << 18
)

// GenerateChunks makes the named schedule for devices (p) devices,
// microbatches (m) micro-batches and chunks (v) stages per device, so p·v
// stages in all, by the generator of the named row of the trait table
// (Lookup). Only a Chunked generator takes more than one chunk; a
// OneMicrobatch one makes one micro-batch whatever m is asked for.
func GenerateChunks(name string, devices, microbatches, chunks int) (*Schedule, error) {
	t, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	key := t.Name
	if devices < 1 {
		return nil, fmt.Errorf("schedule %s: %d devices; want at least 1", key, devices)
	}
	if microbatches < 1 {
		return nil, fmt.Errorf("schedule %s: %d micro-batches; want at least 1 (the batch is split into m micro-batches)", key, microbatches)
	}
	if chunks < 1 {
		return nil, fmt.Errorf("schedule %s: %d chunks; want at least 1 stage per device", key, chunks)
	}
	if devices > MaxStages/chunks || microbatches > MaxMicrobatches || devices*chunks > MaxStageMicrobatches/microbatches {
		return nil, fmt.Errorf("schedule %s: %d devices × %d chunks × %d micro-batches is too large to schedule; at most %d stages, %d micro-batches and %d stage micro-batches (stages × micro-batches)",
			key, devices, chunks, microbatches, MaxStages, MaxMicrobatches, MaxStageMicrobatches)
	}
	if chunks > 1 && !t.Chunked {
		return nil, fmt.Errorf("schedule %s: %d chunks; %s puts one stage on each device, so chunks must be 1 (only %s takes chunks)", key, chunks, key, chunkedNames())
	}
	if t.check != nil {
		if err := t.check(devices, microbatches, chunks); err != nil {
			return nil, fmt.Errorf("schedule %s: %w", key, err)
		}
	}
	if t.OneMicrobatch {
		microbatches = 1
	}
	s := &Schedule{Name: key, Devices: devices, Stages: devices * chunks, Microbatches: microbatches, Chunks: chunks,
		Lists: make([][]Action, devices)}
	t.fill(s)
	return s, nil
}

// add appends a to the list of the device that holds its stage.
func (s *Schedule) add(a Action) {
	d := s.DeviceOf(a.Stage)
	s.Lists[d] = append(s.Lists[d], a)
}

// withLists is a copy of s that shares nothing with it, with empty lists.
func (s *Schedule) withLists() *Schedule {
	c := *s
	c.Lists = make([][]Action, len(s.Lists))
	return &c
}
