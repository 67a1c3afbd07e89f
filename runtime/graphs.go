// CUDA graphs in the executor: each stage's F, B, I and W captured once per stash (and, for the last stage's forward, per micro-batch slot) and replayed.

package runtime

import (
	"baton/internal/field"
	"baton/runtime/device"
	"baton/runtime/schedule"
	"baton/transformer"
)

// graphDevice is a device that captures a stretch of its work as a graph
// and replays it in one launch (a CUDA device: cuda.Device.CaptureGraph).
type graphDevice interface {
	CaptureGraph(work func(), inputs [][]int32) (actionGraph, error)
}

// actionGraph is a captured action (cuda.Replayable).
type actionGraph = interface {
	Launch(inputs [][]int32) error
	Stale() bool
	Close() error
}

// graphKey names what a captured action's graph is good for: the same
// kind of action on the same stash. A graph names the buffers it was
// captured on, so one stash's graph cannot serve another. The last stage's
// forward also writes the micro-batch's slot of the loss buffer, and its
// loss scale is a kernel argument (0 in evaluation): it is keyed by both.
type graphKey struct {
	kind   schedule.Kind
	acts   *transformer.Acts
	mb     int
	dscale float32
}

// graphEntry is a key's graph, once captured, and how often the key ran.
type graphEntry struct {
	g       actionGraph
	direct  int // runs without a graph
	refused int // captures the device refused (the action then ran directly)
}

// stageGraphs are a stage's graphs. Only the stage's worker uses them.
type stageGraphs struct {
	entries map[graphKey]*graphEntry
	inputs  [2][]int32 // Launch's inputs, kept: a replay allocates nothing
}

const (
	// maxGraphRefusals is how many refused captures make a key run
	// directly for good: whatever stops its capture is in the action.
	maxGraphRefusals = 2
	// maxStageGraphs bounds a stage's graphs: keys past it run directly.
	maxStageGraphs = 1024
)

// graphed runs compute action rec of stage st on its stash acts through a
// graph, when the executor uses graphs and dev can: replayed when the key
// has one; else, from its second run on (the first runs directly, so that
// whatever it allocates on first use exists before a capture), captured —
// the capture runs the action once. It returns false when the caller must
// run the action directly. The action's events stay around it, outside
// the graph, so the executor times the launch as it timed the kernels.
func (r *run) graphed(dev device.Device, st *Stage, rec *timedAction, acts *transformer.Acts) bool {
	if !r.ex.CUDAGraphs || r.in.ProfileLayers {
		return false
	}
	gd, ok := dev.(graphDevice)
	if !ok {
		return false
	}
	spec := st.Stack.Spec()
	key := graphKey{kind: rec.Kind, acts: acts, mb: -1}
	if rec.Kind == schedule.F && spec.Head {
		key.mb, key.dscale = rec.Microbatch, r.in.DScale
	}
	if st.graphs.entries == nil {
		st.graphs.entries = map[graphKey]*graphEntry{}
	}
	e := st.graphs.entries[key]
	if e == nil {
		if len(st.graphs.entries) >= maxStageGraphs {
			return false
		}
		e = &graphEntry{}
		st.graphs.entries[key] = e
	}
	inputs := st.graphs.inputs[:0]
	if rec.Kind == schedule.F {
		if spec.Embed {
			inputs = append(inputs, r.in.Tokens[rec.Microbatch])
		}
		if spec.Head {
			inputs = append(inputs, r.in.Targets[rec.Microbatch])
		}
	}
	if e.g != nil && e.g.Stale() { // the device allocated since: buffers may have moved
		e.g.Close()
		e.g = nil
	}
	switch {
	case e.g != nil:
		if err := e.g.Launch(inputs); err != nil {
			panic(err) // a device's failure: guard makes it the step's error
		}
	case e.direct == 0 || e.refused >= maxGraphRefusals:
		e.direct++
		return false
	default:
		g, err := gd.CaptureGraph(func() { r.act(st.Stack, rec.Action, acts) }, inputs)
		if err != nil { // refused: the action ran directly
			e.refused++
			return true
		}
		e.g = g
	}
	return true
}

// checkCUDAGraphs checks CUDAGraphs: on, off or auto (""), and on only
// where graphs can work.
func (c *TrainConfig) checkCUDAGraphs() error {
	switch c.CUDAGraphs {
	case "", "auto", "off":
		return nil
	case "on":
	default:
		return field.Errorf("cuda-graphs", "{cuda-graphs} %q is not one of on, off, auto", c.CUDAGraphs)
	}
	for _, d := range c.Devices {
		if d.Kind != device.KindCUDA {
			return field.Errorf("cuda-graphs", "{cuda-graphs} on captures each action's kernels as a CUDA graph, and %s is not a CUDA device: give cuda devices in {devices}, or {cuda-graphs} off", d)
		}
	}
	if c.ProfileKernels {
		return field.Errorf("cuda-graphs", "{cuda-graphs} on launches each action's kernels as one graph, and {profile-kernels} times each kernel between events of its own: drop one of them")
	}
	if c.ProfileLayers {
		return field.Errorf("cuda-graphs", "{cuda-graphs} on launches each action's kernels as one graph, and {profile-layers} times each layer inside it: drop one of them")
	}
	if c.balancesLive() {
		return field.Errorf("cuda-graphs", "{cuda-graphs} on launches each action's kernels as one graph, and balancing on measured times ({balance} measured, {rebalance} auto) times each layer inside it: drop one of them")
	}
	return nil
}

// graphsOn says whether the run's executor uses CUDA graphs: on when asked,
// and by default (auto) where every device is a CUDA device and neither
// kernels nor layers are timed (steps that time layers, as balancing on
// measured times does in every step, run their actions directly: summary's
// cuda_graphs must not claim graphs that never ran).
func (c *TrainConfig) graphsOn() bool {
	switch c.CUDAGraphs {
	case "on":
		return true
	case "off":
		return false
	}
	if c.ProfileKernels || c.ProfileLayers || c.balancesLive() {
		return false
	}
	for _, d := range c.Devices {
		if d.Kind != device.KindCUDA {
			return false
		}
	}
	return true
}
