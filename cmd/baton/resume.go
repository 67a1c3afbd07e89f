// --resume with a run.json: the run's settings for every flag not given, and a refusal of any given flag that contradicts them.

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/spf13/pflag"

	"baton/runtime"
)

// The settings a resume may not silently change. fixed ones the
// checkpoint itself holds (its weights were trained from that model and
// seed), so no flag changes them; guarded ones change what the run
// computes from here on, so a change must be asked for with --override and
// is recorded. The others (devices, split, steps, evaluation, saving,
// logging, timeout) change how or how long it runs, not what it learns:
// --steps is how a run is extended.
var (
	fixedSettings   = append(slices.Clone(modelFlagNames), "seed")
	guardedSettings = []string{"data", "data-limit", "batch", "microbatches", "schedule", "schedule-file",
		"lr", "min-lr", "warmup", "weight-decay", "max-grad-norm"}
)

// settle gives the flags not on the command line their values from
// --config and, on a resume, from the run's record, and returns the
// record's settings that given flags override. perRank says the process is
// one rank of several: run.json's devices are rank 0's, and each rank keeps
// its own, from its --devices or its local rank, as when the run began.
func (f *trainFlags) settle(fl *pflag.FlagSet, perRank bool) ([]runtime.Override, error) {
	if f.configFile != "" {
		if err := applyConfig(fl, f.configFile); err != nil {
			return nil, err
		}
	}
	if f.override && !f.resume {
		return nil, fmt.Errorf("--override changes a resumed run's settings; it needs --resume")
	}
	if !f.resume || f.out == "" {
		return nil, nil // config reports --resume without --out
	}
	return applyRecord(fl, f.out, f.override, perRank)
}

// applyRecord gives every flag of rec's settings that the command line did
// not give rec's value, and checks the ones it did give: a contradiction
// is refused unless override, and then returned as an override to record.
// A run directory without a run.json (from before baton wrote one)
// resumes on the flags alone. perRank leaves --devices to the rank.
func applyRecord(fl *pflag.FlagSet, out string, override, perRank bool) ([]runtime.Override, error) {
	rec, err := runtime.ReadRecord(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	vals, err := settingsMap(rec.Config)
	if err != nil {
		return nil, err
	}
	var overrides []runtime.Override
	for _, k := range orderedKeys(vals) {
		if perRank && k == "devices" {
			continue
		}
		was, err := flagValue(vals[k])
		if err != nil {
			return nil, fmt.Errorf("--resume: %s/run.json: %s: %v", out, k, err)
		}
		f := fl.Lookup(k)
		if !given(fl, vals, k) {
			if !samePreset(fl, k, was) {
				if err := fl.Set(k, was); err != nil {
					return nil, fmt.Errorf("--resume: %s/run.json: %s %q: %v", out, k, was, err)
				}
			}
			continue
		}
		if f == nil || !f.Changed || sameValue(f, was) {
			continue
		}
		if o, err := contradiction(f, was, override); err != nil {
			return nil, err
		} else if o != nil {
			overrides = append(overrides, *o)
		}
	}
	return overrides, nil
}

// contradiction is the override of f's given value against the record's
// was, or the error that refuses it.
func contradiction(f *pflag.Flag, was string, override bool) (*runtime.Override, error) {
	now := f.Value.String()
	switch {
	case f.Name == "seed":
		return nil, usage(fmt.Errorf("--seed %s contradicts run.json's %s: the run draws its batches with seed %s to the end; drop --seed (or start a new run in another --out)", now, was, was))
	case slices.Contains(fixedSettings, f.Name):
		return nil, usage(fmt.Errorf("--%s %s contradicts run.json's %s: the checkpoint's model differs from the one asked for; drop --%s (or start a new run in another --out)",
			f.Name, show(now), show(was), f.Name))
	case slices.Contains(guardedSettings, f.Name) && !override:
		return nil, usage(fmt.Errorf("--%s %s contradicts run.json's %s; drop it, or pass --override to change it", f.Name, show(now), show(was)))
	case slices.Contains(guardedSettings, f.Name):
		return &runtime.Override{Field: f.Name, From: was, To: now}, nil
	}
	return nil, nil // free to change
}

// sameValue reports whether f's value means what the record's was does:
// numbers as numbers (0.001 is 1e-3), at the precision the run uses, and
// paths as the files they name (corpus.txt, ./corpus.txt, a link to it).
func sameValue(f *pflag.Flag, was string) bool {
	now := f.Value.String()
	if f.Name == "data" || f.Name == "schedule-file" {
		return now == was || sameFile(now, was)
	}
	switch f.Value.Type() {
	case "float64":
		a, errA := strconv.ParseFloat(now, 64)
		b, errB := strconv.ParseFloat(was, 64)
		return errA == nil && errB == nil && (float32(a) == float32(b) || a == b)
	case "int", "int64", "uint64":
		a, errA := strconv.ParseInt(now, 10, 64)
		b, errB := strconv.ParseInt(was, 10, 64)
		if errA == nil && errB == nil {
			return a == b
		}
	}
	return now == was
}

func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// show quotes an empty value, so that "the default" reads as a value.
func show(v string) string {
	if v == "" {
		return `""`
	}
	return v
}

// settingsMap is s by key, decoded as a configuration file is.
func settingsMap(s runtime.Settings) (map[string]any, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	return m, dec.Decode(&m)
}
