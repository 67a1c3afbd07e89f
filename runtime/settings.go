// Settings: a run's configuration as plain values keyed by field name, the form run.json and a configuration file hold.

package runtime

import (
	"strconv"
	"strings"

	"baton/model"
	"baton/runtime/device"
	"baton/runtime/schedule"
)

// Settings is TrainConfig resolved to plain values, each keyed by the
// name its field has in errors (field.Errorf), so that a record read back
// sets exactly the fields it names. Model is the preset the model started
// from, "" for a model of --init-from whose vocabulary no preset has (the
// sizes and InitFrom say it); Layers, Width, Heads and Context are the
// model's, whether the preset's or overridden.
type Settings struct {
	Model        string   `json:"model,omitempty" toml:"model,omitempty"`
	Layers       int      `json:"layers" toml:"layers"`
	Width        int      `json:"width" toml:"width"`
	Heads        int      `json:"heads" toml:"heads"`
	Context      int      `json:"context" toml:"context"`
	Devices      []string `json:"devices" toml:"devices"`
	Precision    string   `json:"precision" toml:"precision"`
	BF16Rounding string   `json:"bf16-rounding,omitempty" toml:"bf16-rounding,omitempty"` // "stochastic", or "" for nearest
	Schedule     string   `json:"schedule,omitempty" toml:"schedule,omitempty"`
	ScheduleFile string   `json:"schedule-file,omitempty" toml:"schedule-file,omitempty"`
	Microbatches int      `json:"microbatches" toml:"microbatches"`
	Chunks       int      `json:"chunks" toml:"chunks"`
	Split        []int    `json:"split,omitempty" toml:"split,omitempty"`
	LayerMap     []int    `json:"layer-map,omitempty" toml:"layer-map,omitempty"`
	Batch        int      `json:"batch" toml:"batch"`
	Steps        int      `json:"steps" toml:"steps"`
	LR           float64  `json:"lr" toml:"lr"`
	MinLR        float64  `json:"min-lr" toml:"min-lr"`
	Warmup       int      `json:"warmup" toml:"warmup"`
	WeightDecay  float64  `json:"weight-decay" toml:"weight-decay"`
	MaxGradNorm  float64  `json:"max-grad-norm" toml:"max-grad-norm"`
	Seed         uint64   `json:"seed" toml:"seed"`
	InitFrom     string   `json:"init-from,omitempty" toml:"init-from,omitempty"` // the weights the run started from
	Data         string   `json:"data" toml:"data"`                               // "" is the default corpus
	DataLimit    int64    `json:"data-limit" toml:"data-limit"`
	EvalEvery    int      `json:"eval-every" toml:"eval-every"`
	EvalBatches  int      `json:"eval-batches" toml:"eval-batches"`
	SaveEvery    int      `json:"save-every" toml:"save-every"`
	LogEvery     int      `json:"log-every" toml:"log-every"`
	Timeout      string   `json:"timeout" toml:"timeout"` // a Go duration: "5m0s"

	ProfileLayers   bool    `json:"profile-layers,omitempty" toml:"profile-layers,omitempty"`
	ProfileKernels  bool    `json:"profile-kernels,omitempty" toml:"profile-kernels,omitempty"`
	CUDAGraphs      string  `json:"cuda-graphs,omitempty" toml:"cuda-graphs,omitempty"` // on or off as given; "" for auto
	Balance         string  `json:"balance,omitempty" toml:"balance,omitempty"`
	Rebalance       string  `json:"rebalance,omitempty" toml:"rebalance,omitempty"`
	RebalanceWarmup int     `json:"rebalance-warmup,omitempty" toml:"rebalance-warmup,omitempty"`
	RebalanceEvery  int     `json:"rebalance-every,omitempty" toml:"rebalance-every,omitempty"`
	RebalanceGain   float64 `json:"rebalance-gain,omitempty" toml:"rebalance-gain,omitempty"`
	OptimizerStep   string  `json:"optimizer-step,omitempty" toml:"optimizer-step,omitempty"`
	Recompute       string  `json:"recompute,omitempty" toml:"recompute,omitempty"`
}

// Settings is the run's configuration as recorded: c after the trainer
// resolved it (the checkpoint's model on a resume, a schedule file's sizes).
func (c TrainConfig) Settings() Settings {
	base := c.PresetBase
	if base == "" {
		base = c.Preset
	}
	if _, ok := model.Presets[base]; !ok {
		base = "" // "custom" would be refused as a --model when the record is read back
	}
	s := Settings{
		Model: base, Layers: c.Model.L, Width: c.Model.C, Heads: c.Model.NH, Context: c.Context,
		Devices: device.Strings(c.Devices), Precision: c.Precision.String(), BF16Rounding: rounding(c.StochasticRounding), Schedule: c.Schedule,
		Microbatches: c.Microbatches, Chunks: max(c.Chunks, 1), Split: c.Split, LayerMap: c.LayerMap,
		Batch: c.Batch, Steps: c.Steps, LR: exact32(c.LR), MinLR: exact32(c.MinLR), Warmup: c.Warmup,
		WeightDecay: exact32(c.WeightDecay), MaxGradNorm: c.MaxGradNorm, Seed: c.Seed,
		InitFrom: c.InitFrom, Data: c.Data, DataLimit: c.DataLimit, EvalEvery: c.EvalEvery, EvalBatches: c.EvalBatches,
		SaveEvery: c.SaveEvery, LogEvery: max(c.LogEvery, 1), Timeout: c.Timeout.String(),
		ProfileLayers: c.ProfileLayers, ProfileKernels: c.ProfileKernels, CUDAGraphs: graphsSetting(c.CUDAGraphs), Balance: c.Balance, Rebalance: c.Rebalance.Mode,
		RebalanceWarmup: c.Rebalance.Warmup, RebalanceEvery: c.Rebalance.Every, RebalanceGain: c.Rebalance.MinGain,
		OptimizerStep: c.OptimizerStep, Recompute: c.Recompute.String(),
	}
	if c.Sched != nil {
		s.Schedule, s.ScheduleFile = "", strings.TrimPrefix(c.Sched.Name, schedule.FilePrefix)
	}
	return s
}

// exact32 is the float64 that prints as the float32 does: 0.001, not
// 0.0010000000474974513, so that a record reads as it was typed.
func exact32(x float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
	return v
}

// rounding is Settings.BF16Rounding for a run that rounds stochastically or not.
func rounding(stochastic bool) string {
	if stochastic {
		return "stochastic"
	}
	return ""
}

// graphsSetting is Settings.CUDAGraphs for TrainConfig.CUDAGraphs: "" for auto.
func graphsSetting(s string) string {
	if s == "auto" {
		return ""
	}
	return s
}
