// Reading results back from CSV: baton's own tables and PyTorch's figures (scripts/torch_peer.py) alike.

package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"baton/model"
)

// ReadCSV reads rows in WriteCSV's format, columns found by their header
// names: scripts/torch_peer.py writes PyTorch's figures so. Empty cells are
// NaN (figures) or left out (per-device values).
func ReadCSV(r io.Reader) ([]Result, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("no header")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, h := range []string{"model", "devices", "schedule", "precision", "tokens_per_sec", "step_s"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("no %q column in the header %q", h, strings.Join(rows[0], ","))
		}
	}
	var out []Result
	for n, row := range rows[1:] {
		r, err := csvRow{col: col, row: row, line: n + 2}.result()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// maxDevices bounds a row's devices, which size its per-device columns:
// no pipeline has more devices than a model has layers.
const maxDevices = model.MaxLayers

// csvRow is one data row, its cells found by header name.
type csvRow struct {
	col  map[string]int
	row  []string
	line int // in the file, 1-based, the header being line 1
}

func (c csvRow) cell(h string) string {
	if i, ok := c.col[h]; ok && i < len(c.row) {
		return c.row[i]
	}
	return ""
}

// num is a figure; empty is NaN.
func (c csvRow) num(h string) (float64, error) {
	s := c.cell(h)
	if s == "" {
		return math.NaN(), nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("line %d, %s: %q is not a number", c.line, h, s)
	}
	return x, nil
}

// integer is a count; empty is dflt.
func (c csvRow) integer(h string, dflt int) (int, error) {
	s := c.cell(h)
	if s == "" {
		return dflt, nil
	}
	x, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("line %d, %s: %q is not an integer", c.line, h, s)
	}
	return x, nil
}

// result reads the row.
func (c csvRow) result() (Result, error) {
	r := Result{Model: c.cell("model"), Schedule: c.cell("schedule"), Precision: c.cell("precision")}
	p, err := c.integer("devices", 1)
	if err == nil && (p < 1 || p > maxDevices) {
		err = fmt.Errorf("line %d, devices: %d; want from 1 to %d (a pipeline has a layer per device at least, and a model at most %d layers)", c.line, p, maxDevices, maxDevices)
	}
	if err != nil {
		return r, err
	}
	r.Devices = make([]string, p)
	if r.Microbatches, err = c.integer("microbatches", 1); err != nil {
		return r, err
	}
	if r.Chunks, err = c.integer("chunks", 1); err != nil {
		return r, err
	}
	for _, f := range []struct {
		h   string
		dst *float64
	}{{"tokens_per_sec", &r.TokensPerSec}, {"step_s", &r.StepS}, {"bubble_measured", &r.BubbleMeasured},
		{"bubble_simulated", &r.BubbleSimulated}, {"bubble_analytic", &r.BubbleAnalytic}} { // in column order: the first bad cell is named
		if *f.dst, err = c.num(f.h); err != nil {
			return r, err
		}
	}
	if math.IsNaN(r.TokensPerSec) || math.IsNaN(r.StepS) {
		return r, fmt.Errorf("line %d: tokens_per_sec and step_s are required", c.line)
	}
	return r, c.perDevice(&r, p)
}

// perDevice reads the idle fraction and peak memory of each of p devices.
func (c csvRow) perDevice(r *Result, p int) error {
	for d := range p {
		idle, err := c.num(fmt.Sprintf("idle_frac_%d", d))
		if err != nil {
			return err
		}
		peak, err := c.integer(fmt.Sprintf("peak_bytes_%d", d), -1)
		if err != nil {
			return err
		}
		if !math.IsNaN(idle) {
			r.IdleFrac = append(r.IdleFrac, idle)
		}
		if peak >= 0 {
			r.PeakBytes = append(r.PeakBytes, int64(peak))
		}
	}
	return nil
}
