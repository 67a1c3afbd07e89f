// Will the run fit: the plan's memory per device beside what the host or each GPU can give, checked before anything is allocated.

package runtime

import (
	"cmp"
	"fmt"
	"os"
	goruntime "runtime"
	"slices"
	"strings"

	"baton/internal/field"
	"baton/internal/words"
	"baton/model"
	"baton/runtime/device"
)

// DeviceMem is what one device's memory must hold: the stages of a CPU
// device, or of a whole GPU, summed over its partitions (cuda:N/K share
// GPU N's memory) and, with interleaving, over its chunks.
type DeviceMem struct {
	Device    string `json:"device"`         // cpu:1, or cuda:0 for every partition of GPU 0
	Stages    []int  `json:"stages"`         // the plan's stages it holds
	Bytes     int64  `json:"mem_bytes"`      // fp32 and tf32
	BytesBF16 int64  `json:"mem_bytes_bf16"` // the bf16 estimate
}

// MemFor is the device's bytes in precision prec, one of model.Precisions.
func (d DeviceMem) MemFor(prec string) int64 { return model.BytesIn(prec, d.Bytes, d.BytesBF16) }

// DeviceMemory sums pl's stages per device of devs, in the order devices
// first appear in the pipeline.
func DeviceMemory(devs []device.Name, pl *model.Plan) []DeviceMem {
	owner := map[string]string{}
	for _, n := range devs {
		owner[n.String()] = n.String()
		if n.Kind == device.KindCUDA {
			owner[n.String()] = fmt.Sprintf("cuda:%d", n.Index)
		}
	}
	var out []DeviceMem
	at := map[string]int{}
	for _, s := range pl.Stages {
		d, ok := owner[s.Device]
		if !ok {
			d = s.Device
		}
		i, ok := at[d]
		if !ok {
			i, at[d] = len(out), len(out)
			out = append(out, DeviceMem{Device: d})
		}
		out[i].Stages = append(out[i].Stages, s.Index)
		out[i].Bytes += s.MemBytes
		out[i].BytesBF16 += s.MemBytesBF16
	}
	return out
}

// GPUMemory is each GPU's memory in bytes as the driver reports it, by
// "cuda:N"; empty in a build without CUDA or where the driver cannot say.
func GPUMemory() map[string]int64 {
	infos, _, _ := device.List()
	out := map[string]int64{}
	for _, in := range infos {
		if in.Kind == device.KindCUDA && in.Memory > 0 {
			out[fmt.Sprintf("cuda:%d", in.Index)] = in.Memory
		}
	}
	return out
}

// gpuOn is the GPU a device is on, that GPU's memory in bytes and its model
// ("NVIDIA H200"): GPU names it alike in every process of the run (its
// UUID; where the driver gives none, the host and ordinal, which takes two
// ranks' different GPUs of one host for one, erring on the side of less
// memory). GPU is empty for a CPU device; Memory and Model where the driver
// cannot say.
type gpuOn struct {
	GPU    string `json:"gpu,omitempty"`
	Memory int64  `json:"memory,omitempty"`
	Model  string `json:"model,omitempty"`
}

// gpusOf is the GPU each of devs is on.
func gpusOf(devs []device.Name) []gpuOn {
	infos, _, _ := device.List()
	byIndex := map[int]device.Info{}
	for _, in := range infos {
		if in.Kind == device.KindCUDA {
			byIndex[in.Index] = in
		}
	}
	host, _ := os.Hostname()
	out := make([]gpuOn, len(devs))
	for i, n := range devs {
		if n.Kind != device.KindCUDA {
			continue
		}
		in := byIndex[n.Index]
		out[i] = gpuOn{GPU: cmp.Or(in.UUID, fmt.Sprintf("%s/cuda:%d", host, n.Index)), Memory: in.Memory, Model: in.Model}
	}
	return out
}

// gpus is the GPU each device of the run's schedule is on: this process's,
// or in a run of several every rank's, as each told it when joining.
func (t *Trainer) gpus() []gpuOn {
	if g := t.cfg.Group; g != nil {
		return g.GPUs
	}
	return gpusOf(t.cfg.Devices)
}

// checkFits refuses a run whose planned memory (every buffer its stages
// allocate: parameters, gradients, AdamW state, the stashes in flight,
// scratch; model.Config.StageBytes) is more than it can have: on virtual
// CPU devices, every stage's together and extra bytes more (what the
// process will hold beside them, cpuExtra at its start), against what the
// process may still allocate under each of its limits (they share the
// host, and what the process holds already, a checkpoint loaded to resume
// from or the stages a re-split replaces, is so counted); on GPUs, each
// GPU's stages beside its memory, in the run's precision (prec, one of
// model.Precisions).
func checkFits(devs []device.Name, pl *model.Plan, prec string, extra int64) error {
	if len(devs) == 0 {
		return nil
	}
	if devs[0].Kind == device.KindCUDA {
		return CheckDeviceFit(DeviceMemory(devs, pl), GPUMemory(), pl, prec)
	}
	need, stashes := cpuNeed(pl, extra)
	if r, want := tightest(need); r != nil && want > r.bytes {
		as := ""
		if r.addressSpace {
			as = fmt.Sprintf(", %s of address space,", model.HumanBytes(want))
		}
		return field.Errorf("batch", "the run needs about %s of memory (parameters, gradients, AdamW state, %s of activations of B=%d T=%d, and %s for the process, with the attention's (T, T) scratch)%s but %s is left %s; "+memoryFixes(pl, pl.Stages, r.bytes, false),
			model.HumanBytes(need), words.Count(stashes, "micro-batch stash"), pl.B, pl.T, model.HumanBytes(extra), as, model.HumanBytes(max(r.bytes, 0)), r.from)
	}
	return nil
}

// memoryFixes words what can bring stages of pl within have bytes: a
// smaller micro-batch (lower batch, or more micro-batches) where one holds
// more than a sequence, a shorter context, recomputation where blocks
// stash more than their output, more GPUs, a smaller model. Where the
// stages' parameters with their gradients and AdamW moments (16 bytes
// each) alone exceed have, only the last two can, and it says so. It is
// part of a field.Errorf format: its settings in braces, and no verb.
func memoryFixes(pl *model.Plan, stages []model.Stage, have int64, gpus bool) string {
	var params int64
	for _, s := range stages {
		params += s.Params
	}
	if state := 16 * params; state > have {
		alone := "the parameters with their gradients and AdamW state alone take " + model.HumanBytes(state)
		if gpus {
			return alone + ": spread the layers over more GPUs with {devices} or {split}, or choose a smaller model"
		}
		return alone + ": choose a smaller model"
	}
	var fixes []string
	if pl.B > 1 {
		fixes = append(fixes, "lower {batch} or raise {microbatches} (micro-batches of "+words.Count(pl.B, "sequence")+")")
	}
	fixes = append(fixes, "lower {context}")
	if pl.Recompute != model.RecomputeBlock {
		fixes = append(fixes, "recompute in the backward ({recompute} block)")
	}
	if gpus {
		fixes = append(fixes, "spread the layers over more GPUs with {devices} or {split}")
	}
	fixes = append(fixes, "or choose a smaller model")
	return strings.Join(fixes, ", ")
}

// cpuNeed is what a run of pl on CPU devices allocates, every stage's
// bytes and extra, and the micro-batch stashes among them.
func cpuNeed(pl *model.Plan, extra int64) (need int64, stashes int) {
	need = extra
	for _, s := range pl.Stages {
		need += s.MemBytes
		stashes += s.Stashes
	}
	return need, stashes
}

// tightest is the process's limit that leaves a run needing need bytes
// least to spare, and what that limit asks of it (need, or for an address
// space addressSpaceFor(need)); nil where no limit is known.
func tightest(need int64) (*room, int64) {
	var best *room
	var bestWant int64
	for _, r := range hostRooms() {
		want := need
		if r.addressSpace {
			want = addressSpaceFor(need)
		}
		if best == nil || r.bytes-want < best.bytes-bestWant {
			best, bestWant = &r, want
		}
	}
	return best, bestWant
}

// HostFit is what a run of pl on CPU devices needs of the host, all its
// stages and what the process holds beside them (the figure the run is
// checked against as it starts), against the tightest of the process's
// limits, where one is known.
func HostFit(pl *model.Plan) HostRoom {
	need, _ := cpuNeed(pl, cpuExtra(pl.Config, pl.T, pl.Devices()))
	h := HostRoom{NeedBytes: need}
	r, want := tightest(need)
	if r == nil {
		return h
	}
	fits := want <= r.bytes
	h.LeftBytes, h.Limit, h.Fits = max(r.bytes, 0), r.from, &fits
	return h
}

// HostRoom is a plan on CPU devices against the host they share: the
// bytes it needs (its stages and the process), and under the tightest of
// the host's limits the bytes left, which limit, and whether it fits; only
// NeedBytes where no limit could be read.
type HostRoom struct {
	NeedBytes int64  `json:"need_bytes"`
	LeftBytes int64  `json:"left_bytes"`
	Limit     string `json:"limit,omitempty"`
	Fits      *bool  `json:"fits,omitempty"`
}

// String is the room as plan prints it: "2.1 GiB left (…): fits", or "".
func (h HostRoom) String() string {
	if h.Fits == nil {
		return ""
	}
	verdict := "fits"
	if !*h.Fits {
		verdict = "TOO BIG"
	}
	return fmt.Sprintf("%s left %s: %s", model.HumanBytes(h.LeftBytes), h.Limit, verdict)
}

// room is what the process may still allocate under one of its limits.
type room struct {
	bytes int64
	from  string // the limit, and what of it is in use
	// addressSpace: a limit on address space, which a Go process's
	// reservations (its heap's room to grow, threads' stacks, arenas)
	// reach well before its resident memory does.
	addressSpace bool
}

// cpuExtra is what a run on CPU devices holds beside its stages' buffers:
// the Go runtime and the data, and Init's host buffer of the largest
// tensor (wte, V·C floats). Measured (2026-12-07): resident memory was the
// plan and 55 to 75 MiB, and V·C floats more, for tiny to gpt2-124m.
// Beside them, the CPU kernels' attention scratch: two (T, T) float32
// matrices, T the sequences' length (the context, not the model's
// positions), for each worker that may run a head at once, GOMAXPROCS on
// each of devices (a context of 16,384 on 2 CPUs holds 4 GiB of them;
// at 1,024, 16 MiB).
func cpuExtra(c model.Config, T, devices int) int64 {
	return 96<<20 + 4*int64(c.V)*int64(c.C) + 8*int64(T)*int64(T)*int64(devices*goruntime.GOMAXPROCS(0))
}

// addressSpaceFor is the address space a run takes up beyond what it
// holds at the check to allocate need bytes. Measured on CPU devices
// (2026-12-07, Go 1.26, 2 CPUs), from the check to the run's end it grew by
// about 0.3 GiB for small (need 0.14 GiB; a limit that left it 0.30 GiB
// crashed it) and by 1.06 to 1.16 times need for gpt2-124m's shapes; a
// quarter and 256 MiB more covers them all.
func addressSpaceFor(need int64) int64 { return need + need/4 + 256<<20 }

// CheckDeviceFit refuses the first device whose bytes in prec exceed its
// memory in capacity (by DeviceMem.Device; a device missing from it is not
// checked), naming both figures, its stages and what to lower.
func CheckDeviceFit(mems []DeviceMem, capacity map[string]int64, pl *model.Plan, prec string) error {
	for _, m := range mems {
		have := capacity[m.Device]
		if have == 0 || m.MemFor(prec) <= have {
			continue
		}
		stages, stashes := make([]string, len(m.Stages)), 0
		var own []model.Stage
		for i, s := range m.Stages {
			st := pl.Stages[slices.IndexFunc(pl.Stages, func(st model.Stage) bool { return st.Index == s })] // pl may be a rank's part
			stages[i] = fmt.Sprintf("%d (layers %d–%d)", s, st.FirstLayer, st.LastLayer)
			stashes += st.Stashes
			own = append(own, st)
		}
		return field.Errorf("batch", "%s needs about %s for its stages %s (parameters, gradients, AdamW state, %s of activations of B=%d T=%d) but has %s of memory; "+memoryFixes(pl, own, have, true),
			m.Device, model.HumanBytes(m.MemFor(prec)), strings.Join(stages, ", "), words.Count(stashes, "micro-batch stash"), pl.B, pl.T, model.HumanBytes(have))
	}
	return nil
}
