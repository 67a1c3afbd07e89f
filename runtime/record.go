// run.json: the run's record, its resolved configuration, data, plan and version, written before the first step.

package runtime

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"baton/data"
	"baton/internal/field"
	"baton/internal/fsutil"
	"baton/model"
	"baton/runtime/device"
)

// RecordSchema is the version of run.json's layout; a reader refuses a
// newer one rather than misread it. 2: the plan's stages say the stashes
// their memory estimate counts (stashes). 3: each start says its working
// directory (dir), against which the paths it was given are relative.
const RecordSchema = 3

// RecordFile is the run record's name in the run directory.
const RecordFile = "run.json"

// Record is run.json: everything needed to know, and to repeat, how a
// run was started and continued.
type Record struct {
	SchemaVersion int          `json:"schema_version"`
	Version       BuildVersion `json:"version"` // of the latest start
	Config        Settings     `json:"config"`  // as the latest start resolved it
	Model         model.Config `json:"model"`
	Params        int64        `json:"params"`
	Data          RecordData   `json:"data"`
	Plan          *model.Plan  `json:"plan"`
	Starts        []Start      `json:"starts"`              // the first run, then each resume
	Overrides     []Override   `json:"overrides,omitempty"` // settings a resume changed on purpose
}

// RecordData is the corpus as loaded, with a checksum of its tokens: the
// same path holding other text since gives another checksum.
type RecordData struct {
	data.Info
	SHA256 string `json:"sha256"` // of the training then validation tokens, as little-endian uint16
}

// Start is one process that ran the run: from Step (0 for the first),
// with this command line and version.
type Start struct {
	Step    int          `json:"step"`
	Command []string     `json:"command"`
	Dir     string       `json:"dir,omitempty"` // the working directory, where relative paths in Command and Config start
	Version BuildVersion `json:"version"`
	// CPUKernels is the CPU kernels' instruction set (generic, avx2 or
	// avx512): generic rounds otherwise than the SIMD sets, so a run on CPU
	// devices repeats bit for bit only on the same.
	CPUKernels string `json:"cpu_kernels"`
	// Ranks is how many processes ran this start (omitted: one); Config's
	// devices are then rank 0's alone.
	Ranks int `json:"ranks,omitempty"`
}

// Override is a setting a resume changed against the record, as the user
// asked; Step is the checkpoint's step, the first one the new value
// trained.
type Override struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
	Step  int    `json:"step"`
}

// ReadRecord reads dir's run.json; an error wrapping os.ErrNotExist means
// the run has none (it began before baton wrote one).
func ReadRecord(dir string) (*Record, error) {
	path := filepath.Join(dir, RecordFile)
	raw, err := fsutil.ReadRegular(path)
	var nr *fsutil.NotRegularError
	switch {
	case errors.As(err, &nr):
		return nil, field.Errorf("resume", "{resume}: %v", err)
	case err != nil:
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			return nil, field.Errorf("resume", "{resume}: %s: %s is a JSON %s where baton writes %s (edited by hand?); write it as baton does, or give the setting as a flag with {override}", path, typ.Field, typ.Value, model.JSONKind(typ.Type.Kind()))
		}
		return nil, field.Errorf("resume", "{resume}: %s: %v", path, err)
	}
	if r.SchemaVersion < 1 || r.SchemaVersion > RecordSchema {
		return nil, field.Errorf("resume", "{resume}: %s has schema_version %d; this baton reads 1 to %d (use the baton that wrote it)", path, r.SchemaVersion, RecordSchema)
	}
	return &r, nil
}

// writeRecord writes run.json for the run about to start: a fresh record,
// or on a resume the previous one with this start and its overrides added.
func (t *Trainer) writeRecord() error {
	cfg := t.cfg
	rec := &Record{}
	if cfg.Resume {
		prev, err := ReadRecord(cfg.Out)
		switch {
		case err == nil:
			rec = prev
		case !errors.Is(err, os.ErrNotExist):
			return err
		}
	}
	rec.SchemaVersion, rec.Version, rec.Config = RecordSchema, Version(), cfg.Settings()
	rec.Model, rec.Params, rec.Plan = cfg.Model, cfg.Model.NumParams(), t.plan
	sum := t.tokenSum()
	if was := rec.Data.SHA256; cfg.Resume && was != "" && was != sum {
		if !cfg.Override {
			return field.Errorf("data", "{resume}: the data's tokens differ from those the run trained on (run.json's data.sha256 %s, now %s; %s): the run would go on from step %d on other text; restore the data, or pass {override} to train on it (recorded in run.json)",
				short(was), short(sum), rec.Data.Source, t.start)
		}
		rec.Overrides = append(rec.Overrides, Override{Field: "data.sha256", From: was, To: sum, Step: t.start})
	}
	rec.Data = RecordData{Info: t.ds.Describe(), SHA256: sum}
	dir, _ := os.Getwd() // "" where it cannot be told: the record then says nothing of it
	start := Start{Step: t.start, Command: cfg.Command, Dir: dir, Version: rec.Version, CPUKernels: device.CPUKernels()}
	if cfg.Group != nil {
		start.Ranks = cfg.Group.Mesh.World()
	}
	rec.Starts = append(rec.Starts, start)
	for _, o := range cfg.Overrides {
		o.Step = t.start
		rec.Overrides = append(rec.Overrides, o)
	}
	raw, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(cfg.Out, 0o755); err != nil {
		return field.Errorf("out", "{out}: %v", err)
	}
	return fsutil.WriteFileAtomic(filepath.Join(cfg.Out, RecordFile), append(raw, '\n'))
}

// short is a checksum's first 12 hex digits, enough to tell two apart in a message.
func short(sum string) string { return sum[:min(12, len(sum))] }

// tokenSum is the hex SHA-256 of the dataset's tokens, train then val.
func tokenSum(ds *data.Dataset) string {
	h := sha256.New()
	buf := make([]byte, 0, 64<<10)
	for _, part := range [][]uint16{ds.Train, ds.Val} {
		for i, tok := range part {
			buf = binary.LittleEndian.AppendUint16(buf, tok)
			if len(buf) == cap(buf) || i == len(part)-1 {
				h.Write(buf)
				buf = buf[:0]
			}
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}
