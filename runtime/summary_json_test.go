// summary.json read back: the inline report gets the schedule and micro-batches the summary holds once.

package runtime

import (
	"encoding/json"
	"testing"

	"baton/runtime/report"
)

// summary.json holds the schedule and micro-batches once, under the names
// the inline report shares; a summary read back has them in its report too,
// which the replay's diagnosis prints.
func TestSummaryJSONRoundTripFillsTheReport(t *testing.T) {
	sum := Summary{Schedule: "gpipe", Microbatches: 4, Devices: []string{"cpu:0", "cpu:1"},
		Report: &report.Report{Schedule: "gpipe", Microbatches: 4, Devices: 2, StepsMeasured: 3, BubbleMeasured: 0.25}}
	raw, err := json.Marshal(&sum)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	if fields["schedule"] != "gpipe" || fields["microbatches"] != 4.0 || fields["num_devices"] != 2.0 || fields["bubble_measured"] != 0.25 {
		t.Errorf("summary.json's layout changed: %s", raw)
	}
	var back Summary
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Schedule != "gpipe" || back.Microbatches != 4 {
		t.Errorf("read back: schedule %q, %d micro-batches; want gpipe, 4", back.Schedule, back.Microbatches)
	}
	if back.Report == nil {
		t.Fatal("read back without its report")
	}
	if r := back.Report; r.Schedule != "gpipe" || r.Microbatches != 4 || r.Devices != 2 || r.StepsMeasured != 3 {
		t.Errorf("read back, the report has schedule %q, %d micro-batches, %d devices, %d steps; want gpipe, 4, 2, 3",
			r.Schedule, r.Microbatches, r.Devices, r.StepsMeasured)
	}
}

// A summary of a run stopped before it measured a step has no report, and
// reads back without one.
func TestSummaryJSONWithoutReport(t *testing.T) {
	raw, err := json.Marshal(&Summary{Schedule: "1f1b", Microbatches: 2})
	if err != nil {
		t.Fatal(err)
	}
	var back Summary
	if err := json.Unmarshal(raw, &back); err != nil || back.Report != nil || back.Schedule != "1f1b" || back.Microbatches != 2 {
		t.Errorf("read back: %v, report %v, schedule %q, %d micro-batches", err, back.Report, back.Schedule, back.Microbatches)
	}
}
