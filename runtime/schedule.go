// Schedules as data: one action list per device, made by a named generator from (devices, micro-batches).
package runtime

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
	Chunks       int // v: stages per device (1 for naive, gpipe, 1f1b)
	Lists        [][]Action
}

// DeviceOf is the device that holds stage: stages are dealt round-robin, so
// with v chunks device d holds stages d, d+p, d+2p, … This is the only place
// the mapping is written down.
func (s *Schedule) DeviceOf(stage int) int { return stage % s.Devices }

// ScheduleNames lists the generators Generate knows, in order of refinement.
var ScheduleNames = []string{"naive", "gpipe", "1f1b"}

// scheduleGenerators maps a name of ScheduleNames to its generator, which
// fills the lists of a schedule whose sizes are already set.
var scheduleGenerators = map[string]func(s *Schedule){
	"naive": genNaive,
	"gpipe": genGPipe,
	"1f1b":  gen1F1B,
}

// Generate makes the named schedule for devices (p) devices and microbatches
// (m) micro-batches, one stage per device. Names are matched without regard
// to case. "naive" always has one micro-batch: it is the textbook sequential
// execution of the whole batch, whatever m is asked for.
func Generate(name string, devices, microbatches int) (*Schedule, error) {
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
	if key == "naive" {
		microbatches = 1
	}
	s := &Schedule{Name: key, Devices: devices, Stages: devices, Microbatches: microbatches, Chunks: 1,
		Lists: make([][]Action, devices)}
	gen(s)
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
