// The text grid of a schedule: one row per device, one column per position in its list, for `baton schedule`.

package schedule

import (
	"fmt"
	"strings"
)

// Grid prints s as a table: a header row of positions ("order": each
// device runs its row left to right, not in step with the others), then one row per
// device whose n-th cell is the device's n-th action, every cell padded to
// the width of the longest so that columns line up. With all false only the
// compute actions (F, B, I, W) are shown, which reads as the pipeline's
// shape; with all true every action is, sends, receives and STEP included.
// Columns are positions in the lists, not times: Simulate gives times.
func (s *Schedule) Grid(all bool) string {
	rows := make([][]string, len(s.Lists))
	width, slots := 1, 0
	for d, list := range s.Lists {
		for _, a := range list {
			if !all && !a.Kind.IsCompute() {
				continue
			}
			cell := a.String()
			rows[d] = append(rows[d], cell)
			width = max(width, len(cell))
		}
		slots = max(slots, len(rows[d]))
	}
	width = max(width, len(fmt.Sprint(slots-1)))
	label := max(len("order"), len(fmt.Sprintf("dev %d", len(s.Lists)-1)))
	var b strings.Builder
	line := func(head string, cells []string) {
		row := fmt.Sprintf("%-*s", label, head)
		for _, c := range cells {
			row += fmt.Sprintf("  %-*s", width, c)
		}
		b.WriteString(strings.TrimRight(row, " "))
		b.WriteByte('\n')
	}
	header := make([]string, slots)
	for i := range header {
		header[i] = fmt.Sprint(i)
	}
	line("order", header)
	for d, cells := range rows {
		line(fmt.Sprintf("dev %d", d), cells)
	}
	return b.String()
}
