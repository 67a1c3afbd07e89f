// The ranks' transfers over links (NCCL): each sending end's count, bytes and time on its send stream, gathered by rank 0 for the report.

package runtime

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	"baton/runtime/device"
	"baton/runtime/dist"
)

// linkTransfers are this rank's sends over links, one per boundary it
// sends across, named by the devices at its ends: for the ranks' links
// what device.Transfers says of one process's copies.
func (t *Trainer) linkTransfers() ([]device.TransferStat, error) {
	names := t.cfg.deviceNames()
	var out []device.TransferStat
	for key, l := range t.ex.links {
		timer, ok := l.(device.SendTimer)
		if !ok {
			continue
		}
		sent, err := timer.Sent()
		if err != nil {
			return nil, err
		}
		if sent.Copies == 0 {
			continue // the receiving end, or the tied embedding's exchange
		}
		from := key.stage - 1 // an activation, from the stage before
		if key.kind == msgGradient {
			from = key.stage + 1
		}
		sent.From, sent.To = names[t.ex.Sched.DeviceOf(from)], names[t.ex.Sched.DeviceOf(key.stage)]
		out = append(out, sent)
	}
	slices.SortFunc(out, func(a, b device.TransferStat) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return out, nil
}

// gatherTransfers is every rank's linkTransfers, in rank order, which each
// rank sends to every other (rank 0 reports them).
func (t *Trainer) gatherTransfers() ([]device.TransferStat, error) {
	mine, err := t.linkTransfers()
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(mine)
	if err != nil {
		return nil, err
	}
	all, err := t.cfg.Group.exchange(dist.Tag{Kind: msgTransfers}, raw, func(r int) string {
		return fmt.Sprintf("gathering the links' transfers: rank %d's", r)
	})
	if err != nil {
		return nil, err
	}
	var out []device.TransferStat
	for r, b := range all {
		var ts []device.TransferStat
		if err := json.Unmarshal(b, &ts); err != nil {
			return nil, fmt.Errorf("rank %d's transfers: %w", r, err)
		}
		out = append(out, ts...)
	}
	return out, nil
}
