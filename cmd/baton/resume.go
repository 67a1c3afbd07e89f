// --resume with a run.json: the run's settings for every flag not given, and a refusal of any given flag that contradicts them.

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/spf13/pflag"

	"baton/internal/words"
	"baton/model"
	"baton/runtime"
	"baton/runtime/device"
)

// The settings a resume may not silently change. fixed ones the
// checkpoint itself holds (its weights were trained from that model and
// seed), so no flag changes them; guarded ones change what the run
// computes from here on, so a change must be asked for with --override and
// is recorded: the context among them, the sequences' length, which may be
// below the model's positions (the trainer refuses one beyond them). The
// others (devices, split, steps, evaluation, saving, logging, timeout)
// change how or how long it runs, not what it learns: --steps is how a run
// is extended.
var (
	fixedSettings   = []string{"model", "layers", "width", "heads", "seed"}
	guardedSettings = []string{"context", "data", "data-limit", "batch", "microbatches", "schedule", "schedule-file",
		"lr", "min-lr", "warmup", "weight-decay", "max-grad-norm"}
)

// settle gives the flags not on the command line their values from
// --config and, on a resume, from the run's record, and returns the
// record's settings that given flags override. world is the ranks this
// start runs as: in one of several, run.json's devices are rank 0's, and
// each rank keeps its own, from its --devices or its local rank, as when
// the run began. Its errors are usage errors but for a run.json that is
// missing.
func (f *trainFlags) settle(fl *pflag.FlagSet, world int) ([]runtime.Override, error) {
	var fromFile []string
	if f.configFile != "" {
		var err error
		var note string
		if fromFile, note, err = applyConfig(fl, f.configFile); err != nil {
			return nil, usage(err)
		}
		for _, k := range fromFile {
			setBy[k] = f.configFile
		}
		if note != "" {
			f.notes = append(f.notes, note)
		}
	}
	if f.resume && f.initFrom != "" && slices.Contains(fromFile, "init-from") {
		return nil, usage(fmt.Errorf("init-from = %s in %s starts a new run from a model's weights and --resume continues a run; drop init-from from %s", f.initFrom, f.configFile, f.configFile))
	}
	if f.override && !f.resume {
		return nil, usage(fmt.Errorf("--override changes a resumed run's settings; it needs --resume"))
	}
	if !f.resume || f.out == "" {
		return nil, nil // config reports --resume without --out
	}
	rec, err := runtime.ReadRecord(f.out)
	switch {
	case errors.Is(err, os.ErrNotExist) && (f.override || !model.HasRunCheckpoint(f.out)):
		return nil, nil // the flags given are the run's settings, or the trainer says there is nothing to resume
	case errors.Is(err, os.ErrNotExist):
		// Defaults in place of the run's settings would change its training unseen.
		return nil, fmt.Errorf("--resume: %s/run.json is missing, so the run's settings are unknown; give them as flags (or with --config) and add --override to resume on them", f.out)
	case err != nil:
		return nil, usage(err)
	}
	f.record = rec
	overrides, err := f.applyRecord(fl, rec, world, fromFile)
	return overrides, usage(err)
}

// fileMicrobatches checks the micro-batches of the --schedule-file a
// resume runs, m, against run.json's: the flag is checked by its path, and
// the file there may have been rewritten since. Like --microbatches, a
// change is refused unless --override, and then returned to record.
func (f *trainFlags) fileMicrobatches(m int) (*runtime.Override, error) {
	if f.record == nil || f.record.Config.Microbatches == m {
		return nil, nil
	}
	was := f.record.Config.Microbatches
	if !f.override {
		return nil, fmt.Errorf("--schedule-file %s has %d micro-batches, run.json's %d: the run's steps would sum their gradients otherwise from here on; restore the file, or pass --override to change them",
			f.scheduleFile, m, was)
	}
	return &runtime.Override{Field: "microbatches", From: strconv.Itoa(was), To: strconv.Itoa(m)}, nil
}

// fromRunDir is the record's path setting k, was, as it names a file from
// here: a relative data or schedule file is relative to the directory its
// last start ran in (run.json's starts' dir), so a resume from elsewhere
// reads it there, saying so; one found in neither place is an error that
// says where it was looked for. Other settings are was.
func (f *trainFlags) fromRunDir(rec *runtime.Record, k, was string) (string, error) {
	dir := lastDir(rec)
	if there := underDir(k, was, dir); there != was {
		f.notes = append(f.notes, fmt.Sprintf("run.json's %s %s is relative to %s, where the run last started: reading %s", k, was, dir, there))
		return there, nil
	}
	// A resume reads no init-from (the run's history only): its weights
	// may be gone.
	if dir != "" && relativeFile(k, was) && k != "init-from" && !pathExists(was) {
		where := fmt.Sprintf("in %s, where the run last started", dir)
		if here, _ := os.Getwd(); here != dir {
			where = fmt.Sprintf("here (%s) nor %s", here, where)
		}
		return "", fmt.Errorf("--resume: run.json's %s %s names no file %s; give --%s (the run's own, or --override)", k, was, where, k)
	}
	return was, nil // a record without dir: loading it says what is missing
}

// lastDir is the working directory of the run's last start, where its
// relative paths were given ("" where the record does not say).
func lastDir(rec *runtime.Record) string {
	if len(rec.Starts) == 0 {
		return ""
	}
	return rec.Starts[len(rec.Starts)-1].Dir
}

// recordedFile is the record's setting of the flag given, was, as the
// flag's value is compared with it: a relative data or schedule file where
// the run last started; and data whose recorded path names nothing any
// more is the path given, whose tokens data.sha256 checks instead.
func (f *trainFlags) recordedFile(rec *runtime.Record, given *pflag.Flag, was string) string {
	k := given.Name
	if k != "data" && k != "schedule-file" || was == "" || len(rec.Starts) == 0 {
		return was
	}
	there := underDir(k, was, lastDir(rec))
	if k == "data" && !pathExists(there) {
		now := given.Value.String()
		f.notes = append(f.notes, fmt.Sprintf("run.json's data %s names no file any more: reading --data %s, whose tokens must be the run's (data.sha256)", was, now))
		return now
	}
	return there
}

// applyRecord gives every flag of rec's settings (--out's run.json) that
// the command line did not give rec's value, and checks the ones it did
// give, or --config gave (its keys fromFile): a contradiction is refused
// unless --override, and then returned as an override to record. In a
// start of several ranks (world), --devices is each rank's own.
func (f *trainFlags) applyRecord(fl *pflag.FlagSet, rec *runtime.Record, world int, fromFile []string) ([]runtime.Override, error) {
	vals, err := settingsMap(rec.Config)
	if err != nil {
		return nil, err
	}
	var overrides []runtime.Override
	ranks := 0 // of the run's last start
	if n := len(rec.Starts); n > 0 {
		ranks = rec.Starts[n-1].Ranks
	}
	// The devices now and the run's, where they may differ: --devices is
	// given, the run ran as ranks (run.json's devices are rank 0's; its
	// plan has every rank's), or it resumes as ranks (each with its
	// --devices, as many as this one's, or one).
	perRank := world > 1
	var nowCount, wasCount int
	if perRank || fl.Changed("devices") || ranks > 1 {
		recDevices, _ := flagValue(vals["devices"])
		now := recDevices
		if fl.Changed("devices") {
			now = fl.Lookup("devices").Value.String()
		}
		nowCount, wasCount = deviceCount(now), deviceCount(recDevices)
		switch {
		case perRank && !fl.Changed("devices"):
			nowCount = world // a device per rank, from its local rank
		case perRank:
			nowCount *= world
		}
		switch {
		case ranks > 1 && rec.Plan != nil:
			wasCount = rec.Plan.Devices()
		case ranks > 1: // no plan recorded: every rank as many as rank 0
			wasCount *= ranks
		}
		if !perRank && !fl.Changed("devices") {
			f.notes = append(f.notes, fmt.Sprintf("the run last ran as %d ranks; resuming in one process on run.json's --devices %s, rank 0's alone: give --devices for more (a resume continues exactly on any layout)", ranks, recDevices))
		}
	}
	otherCount := nowCount != wasCount
	for _, k := range orderedKeys(vals) {
		if perRank && k == "devices" {
			continue
		}
		was, err := flagValue(vals[k])
		if err != nil {
			return nil, fmt.Errorf("--resume: %s/run.json: %s: %v", f.out, k, err)
		}
		fv := fl.Lookup(k)
		if otherCount && (k == "split" || k == "layer-map") && !given(fl, vals, k) {
			// A split is for the devices it was recorded with; a resume on
			// as many others keeps it, on another count splits anew.
			f.notes = append(f.notes, fmt.Sprintf("resuming on %s, not the run's %d: its --%s %s is not used", words.Count(nowCount, "device"), wasCount, k, was))
			continue
		}
		if prec := fl.Lookup("precision").Value.String(); k == "bf16-rounding" && !given(fl, vals, k) && fl.Changed("precision") && prec != "bf16" {
			// A rounding of bf16 weights, which a resume in another
			// precision (given) has none of.
			f.notes = append(f.notes, fmt.Sprintf("resuming in %s: the run's --bf16-rounding %s, for bf16 weights, is not used", prec, was))
			continue
		}
		if !given(fl, vals, k) {
			if was, err = f.fromRunDir(rec, k, was); err != nil {
				return nil, err
			}
			if !samePreset(fl, k, was) {
				if err := fl.Set(k, was); err != nil {
					return nil, fmt.Errorf("--resume: %s/run.json: %s %q: %v", f.out, k, was, err)
				}
				setBy[k] = filepath.Join(f.out, "run.json")
			}
			continue
		}
		if fv == nil || !fv.Changed || sameValue(fv, f.recordedFile(rec, fv, was)) {
			continue
		}
		file := ""
		if slices.Contains(fromFile, k) {
			file = f.configFile
		}
		if o, err := contradiction(fv, was, f.override, file); err != nil {
			return nil, err
		} else if o != nil {
			overrides = append(overrides, *o)
		}
	}
	return overrides, nil
}

// contradiction is the override of f's given value against the record's
// was, or the error that refuses it, naming f as the configuration file
// file gave it, or as a flag where file is "".
func contradiction(f *pflag.Flag, was string, override bool, file string) (*runtime.Override, error) {
	now := f.Value.String()
	asked, name, from := fmt.Sprintf("--%s %s", f.Name, show(now)), "--"+f.Name, ""
	if file != "" {
		asked, name, from = fmt.Sprintf("%s = %s in %s", f.Name, show(now), file), f.Name, " from "+file
	}
	switch {
	case f.Name == "seed":
		return nil, fmt.Errorf("%s contradicts run.json's %s: the run draws its batches with seed %s to the end; drop %s%s (or start a new run in another --out)", asked, was, was, name, from)
	case slices.Contains(fixedSettings, f.Name):
		return nil, fmt.Errorf("%s contradicts run.json's %s: the checkpoint's model differs from the one asked for; drop %s%s (or start a new run in another --out)",
			asked, show(was), name, from)
	case slices.Contains(guardedSettings, f.Name) && !override:
		return nil, fmt.Errorf("%s contradicts run.json's %s; drop it%s, or pass --override to change it", asked, show(was), from)
	case slices.Contains(guardedSettings, f.Name), f.Name == "steps":
		// A run is extended by --steps without --override, but the learning
		// rate's cosine ends at --steps, so from here on it changes: recorded,
		// as run.json's steps alone would no longer say how the run trained.
		return &runtime.Override{Field: f.Name, From: was, To: now}, nil
	}
	return nil, nil // free to change
}

// sameValue reports whether f's value means what the record's was does:
// numbers as numbers (0.001 is 1e-3), at the precision the run uses, and
// paths as the files they name (corpus.txt, ./corpus.txt, a link to it;
// a glob as the files it matches).
func sameValue(f *pflag.Flag, was string) bool {
	now := f.Value.String()
	if f.Name == "data" || f.Name == "schedule-file" {
		return now == was || sameFile(now, was) || sameMatches(now, was)
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

// sameMatches says whether the globs a and b (shards, as --data takes them)
// match the same files.
func sameMatches(a, b string) bool {
	ma, errA := filepath.Glob(a)
	mb, errB := filepath.Glob(b)
	if errA != nil || errB != nil || len(ma) == 0 || len(ma) != len(mb) {
		return false
	}
	for i := range ma {
		if !sameFile(ma[i], mb[i]) {
			return false
		}
	}
	return true
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

// deviceCount is how many devices list names, 0 for a list that does not
// parse (the trainer reports it).
func deviceCount(list string) int {
	names, err := device.Expand(list)
	if err != nil {
		return 0
	}
	return len(names)
}
