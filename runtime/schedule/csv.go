// Schedule files: a schedule as CSV, one row per device, in the action format of torch.distributed.pipelining.

package schedule

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// WriteCSV writes s as a schedule file: row d is device d's list, one
// action per cell as Action.String prints it ("0F0", "1RECV_B3", "0STEP"),
// with no header, as torch.distributed.pipelining's _dump_csv writes one.
// Rows are as long as their lists, so they may differ in length.
func (s *Schedule) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	for _, list := range s.Lists {
		row := make([]string, len(list))
		for i, a := range list {
			row[i] = a.String()
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ReadCSV reads a schedule file that WriteCSV, torch.distributed.pipelining
// or a hand wrote: row d is device d's list. Empty cells are skipped (torch
// writes its idle slots as empty cells), as are spaces around a cell; a
// blank line is refused, since it would shift every later device. The sizes
// come from the actions: as many devices as rows, as many stages as the
// highest stage + 1 (a multiple of the devices, dealt round-robin: see
// DeviceOf), as many micro-batches as the highest micro-batch + 1. A file
// may hold compute actions and STEPs only, or be lowered already (Lower
// then keeps its sends and receives as they are).
//
// The schedule is checked before anyone runs it: Validate, then Simulate of
// its lowered form on UniformCost(1, 2) to find deadlocks. An error names
// the file, the row and column (both from 1) and the action at fault. The
// schedule's Name is FilePrefix + name.
func ReadCSV(r io.Reader, name string) (*Schedule, error) {
	f, err := readRows(r, name)
	if err != nil {
		return nil, err
	}
	s, err := f.schedule()
	if err != nil {
		return nil, err
	}
	if err := Validate(s); err != nil {
		return nil, f.locate(err)
	}
	low := Lower(s)
	if _, err := Simulate(low, UniformCost(1, 2)); err != nil {
		var dl *Deadlock
		if errors.As(err, &dl) {
			return nil, f.deadlock(dl, low)
		}
		return nil, fmt.Errorf("schedule file %s: %w", name, err)
	}
	return s, nil
}

// csvFile is a schedule file as read: per row, its actions and the column
// each came from.
type csvFile struct {
	name  string
	lists [][]Action
	cols  [][]int // cols[d][i]: the column (from 1) of lists[d][i]
}

// readRows parses the rows' cells into actions.
func readRows(r io.Reader, name string) (*csvFile, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1 // rows are as long as their lists
	f := &csvFile{name: name}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("schedule file %s: %w", name, err)
		}
		row := len(f.lists) + 1
		if line, _ := cr.FieldPos(0); line != row {
			return nil, fmt.Errorf("schedule file %s: row %d is blank; every device needs a row of actions, ending with its STEPs", name, row)
		}
		var list []Action
		var cols []int
		for c, cell := range rec {
			cell = strings.TrimSpace(strings.TrimPrefix(cell, "\ufeff")) // a BOM, as spreadsheets save it
			if cell == "" {
				continue
			}
			a, err := ParseAction(cell)
			if err != nil {
				return nil, fmt.Errorf("schedule file %s: row %d, column %d: %w", name, row, c+1, err)
			}
			list, cols = append(list, a), append(cols, c+1)
		}
		f.lists, f.cols = append(f.lists, list), append(f.cols, cols)
	}
	if len(f.lists) == 0 {
		return nil, fmt.Errorf("schedule file %s: no rows; want one row of actions per device", name)
	}
	return f, nil
}

// schedule infers the sizes from the actions.
func (f *csvFile) schedule() (*Schedule, error) {
	p, stages, m := len(f.lists), 0, 0
	used := map[int]bool{}
	for _, list := range f.lists {
		for _, a := range list {
			stages = max(stages, a.Stage+1)
			if a.Kind != Step {
				m = max(m, a.Microbatch+1)
				used[a.Microbatch] = true
			}
		}
	}
	if m == 0 {
		return nil, fmt.Errorf("schedule file %s: no forward or backward in any row", f.name)
	}
	if len(used) < m {
		missing := 0
		for used[missing] {
			missing++
		}
		return nil, fmt.Errorf("schedule file %s: micro-batch %d is in no action, but %d is: number the micro-batches 0, 1, 2, … with none left out", f.name, missing, m-1)
	}
	if stages%p != 0 {
		return nil, fmt.Errorf("schedule file %s: stages 0..%d over %d rows; devices hold stages round-robin (device d: d, d+%d, …), so the stages must be a multiple of the rows, one row per device",
			f.name, stages-1, p, p)
	}
	return &Schedule{Name: FilePrefix + f.name, Devices: p, Stages: stages, Microbatches: m, Chunks: stages / p, Lists: f.lists}, nil
}

// at names the place of action i of row d's list.
func (f *csvFile) at(d, i int) string {
	return fmt.Sprintf("row %d, column %d (%s)", d+1, f.cols[d][i], f.lists[d][i])
}

// locate rewrites Validate's error in the file's rows and columns.
func (f *csvFile) locate(err error) error {
	var ae *ActionError
	switch {
	case !errors.As(err, &ae):
		return fmt.Errorf("schedule file %s: %w", f.name, err)
	case ae.Index < 0:
		return fmt.Errorf("schedule file %s: row %d: %w", f.name, ae.Device+1, ae.Err)
	}
	if ae.HasEarlier {
		return fmt.Errorf("schedule file %s: %s: %w (the other: column %d)", f.name, f.at(ae.Device, ae.Index), ae.Err, f.cols[ae.Device][ae.Earlier])
	}
	return fmt.Errorf("schedule file %s: %s: %w", f.name, f.at(ae.Device, ae.Index), ae.Err)
}

// deadlock describes dl, found in low, the lowered form of the file, in the
// file's rows and columns.
func (f *csvFile) deadlock(dl *Deadlock, low *Schedule) error {
	origin := f.origins(low)
	at := func(d, i int) string { return f.at(d, origin[d][i]) }
	var parts []string
	for d, st := range dl.Devices {
		if st.Finished {
			continue
		}
		msg := fmt.Sprintf("%s waits for %s", at(d, st.Index), st.For)
		if e := st.Sender; e < 0 {
			msg += ", which no row has"
		} else {
			k := origin[e][dl.Devices[e].Index]
			msg += fmt.Sprintf(" from %s, which is stuck at column %d (%s)", at(e, st.SendAt), f.cols[e][k], f.lists[e][k])
		}
		parts = append(parts, msg)
	}
	return fmt.Errorf("schedule file %s: deadlock, no device can progress: %s", f.name, strings.Join(parts, "; "))
}

// origins maps each action of low to the index, in its row, of the file's
// action it stands for. A lowered file was run as it is; in a file of
// compute actions, each receive Lower added stands for the action after it
// (which needs its data) and each send for the one before it (which made
// the data).
func (f *csvFile) origins(low *Schedule) [][]int {
	out := make([][]int, len(low.Lists))
	asIs := hasComm(&Schedule{Lists: f.lists})
	for d, list := range low.Lists {
		next := 0 // the file's next action not yet passed
		for i, a := range list {
			o := next
			switch {
			case asIs:
				o = i
			case a.Kind == SendF || a.Kind == SendB:
				o = next - 1
			case !isComm(a.Kind):
				next++
			}
			out[d] = append(out[d], o)
		}
	}
	return out
}
