// metrics.jsonl: a line per logged step, fsynced as written, cut back to the checkpoint's step on a resume.

package runtime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"baton/internal/field"
	"baton/internal/fsutil"
)

// MetricsFile is the metrics log's name in the run directory.
const MetricsFile = "metrics.jsonl"

// Metric is one line of metrics.jsonl: one step's numbers.
type Metric struct {
	Step         int      `json:"step"`
	Loss         float64  `json:"loss"`
	ValLoss      *float64 `json:"val_loss,omitempty"` // only on steps that evaluated
	LR           float64  `json:"lr"`
	GradNorm     float64  `json:"grad_norm"`    // before clipping
	TokensPerSec float64  `json:"tokens_per_s"` // of this step alone
	StepS        float64  `json:"step_s"`       // wall time of the step, batch loading included
	// Idle is each device's share of the step's pipeline time (its start to
	// the last forward or backward) in which it computed nothing, in the
	// order of the run's devices. On several ranks rank 0 writes the log
	// and times its own devices only, over their own span: another rank's
	// are unknown (null) each step, and in the report at the run's end.
	Idle []Share `json:"idle"`
}

// Share is a fraction that may be unknown: NaN, written as JSON's null.
type Share float64

func (f Share) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

func (f *Share) UnmarshalJSON(raw []byte) error {
	if string(raw) == "null" {
		*f = Share(math.NaN())
		return nil
	}
	return json.Unmarshal(raw, (*float64)(f))
}

// metricsLog appends lines to metrics.jsonl, each fsynced before the next
// checkpoint can be written, so that a checkpoint never lies ahead of the log.
type metricsLog struct {
	f    *os.File
	size int64 // of the file's whole lines: where a failed write cuts it back to
}

// openMetrics opens Out's metrics.jsonl for the run about to start from
// step start: a fresh run begins it empty; a resume keeps the lines up to
// start, dropping those a killed run wrote after its last checkpoint (the
// resumed run writes them again), and returns them. val, when not nil, is
// the validation loss of step start that a signal had kept from its line.
func openMetrics(out string, start int, val *float64) (*metricsLog, []Metric, error) {
	path := filepath.Join(out, MetricsFile)
	// The log, and the summary a resume reads back (previousSummary), are
	// rewritten at the run's end: in place of either, a named pipe with no
	// reader would hang the run there, past a signal, so it is refused now.
	for _, p := range []string{path, filepath.Join(out, "summary.json")} {
		if fi, err := os.Stat(p); err == nil && !fi.Mode().IsRegular() {
			return nil, nil, field.Errorf("out", "{out}: %v; remove it, and the run writes it anew", &fsutil.NotRegularError{Path: p, Mode: fi.Mode()})
		}
	}
	var kept []Metric
	if start > 0 {
		var err error
		if kept, err = readMetrics(path, start); err != nil {
			return nil, nil, err
		}
		if n := len(kept); val != nil && n > 0 && kept[n-1].Step == start {
			kept[n-1].ValLoss = val
		}
	}
	var buf bytes.Buffer
	for _, m := range kept {
		line, _ := json.Marshal(m)
		buf.Write(append(line, '\n'))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, nil, err
	}
	if err := fsutil.WriteFileAtomic(path, buf.Bytes()); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return &metricsLog{f: f, size: int64(buf.Len())}, kept, nil
}

// readMetrics is path's lines of steps up to last, in order. A line that
// does not parse ends the log: only the last can be torn, by a crash
// inside its write, and none after it was fsynced.
func readMetrics(path string, last int) ([]Metric, error) {
	f, _, err := fsutil.OpenRegular(path)
	if os.IsNotExist(err) {
		return nil, nil // a run from before baton wrote metrics
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Metric
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m Metric
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			break
		}
		if m.Step <= last && (len(out) == 0 || m.Step > out[len(out)-1].Step) {
			out = append(out, m)
		}
	}
	return out, sc.Err()
}

// write appends m and fsyncs it; a nil log (a rank other than 0's) writes
// nothing. A write that fails (a full disk takes what fits) is cut back to
// the last whole line, so that the log stays a line of JSON per step for
// whoever reads it before a resume would repair it.
func (l *metricsLog) write(m Metric) error {
	if l == nil {
		return nil
	}
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	if _, err := l.f.Write(line); err != nil {
		if terr := l.f.Truncate(l.size); terr != nil {
			return fmt.Errorf("%w; its last line is left partial, as cutting it back failed: %v", err, terr)
		}
		return err
	}
	l.size += int64(len(line))
	return l.f.Sync()
}

func (l *metricsLog) close() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}

// stepMetric is step's line from its result, its wall time and learning
// rate; its Idle reuses idle's array when it is large enough.
func stepMetric(step int, res *StepResult, lr float32, took time.Duration, tokens int, idle []Share) Metric {
	m := Metric{Step: step, Loss: res.Loss, LR: exact32(lr), GradNorm: res.GradNorm, StepS: took.Seconds()}
	if took > 0 {
		m.TokensPerSec = float64(tokens) / took.Seconds()
	}
	span := res.PipelineSpan()
	m.Idle = resize(idle, len(res.Records))
	for d, recs := range res.Records {
		if len(recs) == 0 { // another rank's device: every device acts in every step
			m.Idle[d] = Share(math.NaN())
			continue
		}
		var busy time.Duration
		for _, r := range recs {
			if r.Action.Kind.IsCompute() {
				busy += min(r.End, span) - min(r.Start, span)
			}
		}
		if span > 0 {
			m.Idle[d] = Share(1 - busy.Seconds()/span.Seconds())
		}
	}
	return m
}
