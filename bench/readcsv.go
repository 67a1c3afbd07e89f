// Reading results back from CSV: baton's own tables and PyTorch's figures (scripts/torch_peer.py) alike.

package bench

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"baton/kernels"
	"baton/model"
)

// ReadCSV reads rows in WriteCSV's format, columns found by their header
// names: scripts/torch_peer.py writes PyTorch's figures so. Empty cells are
// NaN (figures) or left out (per-device values). A leading UTF-8 byte order
// mark, which spreadsheets write, is skipped.
func ReadCSV(r io.Reader) ([]Result, error) {
	br := bufio.NewReader(r)
	if b, err := br.Peek(len(bom)); err == nil && string(b) == bom {
		br.Discard(len(bom))
	}
	rows, err := csv.NewReader(br).ReadAll()
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

// bom is the UTF-8 byte order mark.
const bom = "\ufeff"

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

// num is a figure; empty is NaN. A cell that is a number but not a finite
// one that ok takes (a negative time, a fraction past 1) is refused, saying
// what the column wants.
func (c csvRow) num(h string, ok func(float64) bool, want string) (float64, error) {
	s := c.cell(h)
	if s == "" {
		return math.NaN(), nil
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("line %d, %s: %q is not a number", c.line, h, s)
	}
	if math.IsNaN(x) || math.IsInf(x, 0) || !ok(x) {
		return 0, fmt.Errorf("line %d, %s: %s; want %s", c.line, h, s, want)
	}
	return x, nil
}

// positive and fraction are what num's figures must be: a rate or a time,
// and a share of the pipeline's time.
var (
	positive = func(x float64) bool { return x > 0 }
	fraction = func(x float64) bool { return x >= 0 && x <= 1 }
)

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
	r := Result{Model: c.cell("model"), Schedule: c.cell("schedule")}
	prec, err := kernels.ParsePrecision(c.cell("precision"))
	if err != nil {
		return r, fmt.Errorf("line %d, precision: %q; want fp32, tf32 or bf16", c.line, c.cell("precision"))
	}
	r.Precision = prec.String()
	p, err := c.integer("devices", 1)
	if err == nil && (p < 1 || p > maxDevices) {
		err = fmt.Errorf("line %d, devices: %d; want from 1 to %d (a pipeline has a layer per device at least, and a model at most %d layers)", c.line, p, maxDevices, maxDevices)
	}
	if err != nil {
		return r, err
	}
	r.Devices = make([]string, p)
	for _, f := range []struct {
		h   string
		dst *int
	}{{"microbatches", &r.Microbatches}, {"chunks", &r.Chunks}} {
		if *f.dst, err = c.integer(f.h, 1); err == nil && *f.dst < 1 {
			err = fmt.Errorf("line %d, %s: %d; want at least 1", c.line, f.h, *f.dst)
		}
		if err != nil {
			return r, err
		}
	}
	for _, f := range []struct {
		h    string
		dst  *float64
		ok   func(float64) bool
		want string
	}{{"tokens_per_sec", &r.TokensPerSec, positive, "a finite number above 0"},
		{"bubble_measured", &r.BubbleMeasured, fraction, "a fraction from 0 to 1"},
		{"bubble_simulated", &r.BubbleSimulated, fraction, "a fraction from 0 to 1"},
		{"bubble_analytic", &r.BubbleAnalytic, fraction, "a fraction from 0 to 1"},
		{"step_s", &r.StepS, positive, "a finite number of seconds above 0"}} { // in column order: the first bad cell is named
		if *f.dst, err = c.num(f.h, f.ok, f.want); err != nil {
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
		idle, err := c.num(fmt.Sprintf("idle_frac_%d", d), fraction, "a fraction from 0 to 1")
		if err != nil {
			return err
		}
		h := fmt.Sprintf("peak_bytes_%d", d)
		peak, err := c.integer(h, -1)
		if err != nil {
			return err
		}
		if peak < 0 && c.cell(h) != "" {
			return fmt.Errorf("line %d, %s: %d; want a number of bytes, 0 or more", c.line, h, peak)
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
