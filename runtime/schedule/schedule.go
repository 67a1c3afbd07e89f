// Schedules as data: one action list per device, made by a named generator from (devices, micro-batches, chunks).

package schedule

import (
	"fmt"
	"strings"
)

// Schedule is what every device does in one training step, in order.
// Lists[d] is device d's action list. A schedule from Generate holds compute
// actions and STEPs only; Lower adds the sends and receives the executor needs.
type Schedule struct {
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

// ScheduleNames lists the generators Generate knows, in order of refinement.
var ScheduleNames = []string{"naive", "gpipe", "1f1b", "interleaved", "zb-h1", "zb-h2"}

// generator fills the lists of a schedule whose sizes are already set.
// chunked generators place several stages on each device; check, when set,
// rejects sizes the generator cannot serve, before any list is made.
type generator struct {
	fill    func(s *Schedule)
	chunked bool
	check   func(p, m, v int) error
}

// scheduleGenerators maps a name of ScheduleNames to its generator.
var scheduleGenerators = map[string]generator{
	"naive":       {fill: genNaive},
	"gpipe":       {fill: genGPipe},
	"1f1b":        {fill: gen1F1B},
	"interleaved": {fill: genInterleaved, chunked: true, check: checkInterleaved},
	"zb-h1":       {fill: genZBH1},
	"zb-h2":       {fill: genZBH2},
}

// Generate makes the named schedule for devices (p) devices and microbatches
// (m) micro-batches, one stage per device: GenerateChunks with one chunk.
func Generate(name string, devices, microbatches int) (*Schedule, error) {
	return GenerateChunks(name, devices, microbatches, 1)
}

// GenerateChunks makes the named schedule for devices (p) devices,
// microbatches (m) micro-batches and chunks (v) stages per device, so p·v
// stages in all. Names are matched without regard to case. Only
// "interleaved" takes more than one chunk. "naive" always has one
// micro-batch: it is the textbook sequential execution of the whole batch,
// whatever m is asked for.
func GenerateChunks(name string, devices, microbatches, chunks int) (*Schedule, error) {
	key := strings.ToLower(name)
	gen, ok := scheduleGenerators[key]
	if !ok {
		return nil, fmt.Errorf("unknown schedule %q; known schedules: %s", name, strings.Join(ScheduleNames, ", "))
	}
	if devices < 1 {
		return nil, fmt.Errorf("schedule %s: %d devices; want at least 1", key, devices)
	}
	if microbatches < 1 {
		return nil, fmt.Errorf("schedule %s: %d micro-batches; want at least 1 (the batch is split into m micro-batches)", key, microbatches)
	}
	if chunks < 1 {
		return nil, fmt.Errorf("schedule %s: %d chunks; want at least 1 stage per device", key, chunks)
	}
	if chunks > 1 && !gen.chunked {
		return nil, fmt.Errorf("schedule %s: %d chunks; %s puts one stage on each device, so chunks must be 1 (only interleaved takes --chunks)", key, chunks, key)
	}
	if gen.check != nil {
		if err := gen.check(devices, microbatches, chunks); err != nil {
			return nil, fmt.Errorf("schedule %s: %w", key, err)
		}
	}
	if key == "naive" {
		microbatches = 1
	}
	s := &Schedule{Name: key, Devices: devices, Stages: devices * chunks, Microbatches: microbatches, Chunks: chunks,
		Lists: make([][]Action, devices)}
	gen.fill(s)
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
