// The ranks' transfers over links (NCCL), and through the mesh where no link joins two devices: each sending end's count, bytes and time, per pair of devices, gathered by rank 0 for the report.

package runtime

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"baton/runtime/device"
	"baton/runtime/dist"
)

// linkTransfers are this rank's sends to other ranks, summed per pair of
// devices they join (as device.Transfers sums one process's copies; with
// interleaving a pair has several boundaries), over links and through
// the mesh (hostSends), in the pairs' order.
func (t *Trainer) linkTransfers() []device.TransferStat {
	names := t.cfg.deviceNames()
	byPair := map[[2]string]*device.TransferStat{}
	// In the keys' order, so that a pair's seconds are summed alike every run.
	keys := slices.SortedFunc(maps.Keys(t.ex.links), func(a, b linkKey) int {
		return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.stage, b.stage))
	})
	for _, key := range keys {
		timer, ok := t.ex.links[key].(device.SendTimer)
		if !ok || key.kind == msgTied { // the tied embedding's exchange is not timed
			continue
		}
		sent, err := timer.Sent()
		if err != nil || sent.Copies == 0 {
			continue // the receiving end; or the sends' timing failed, which leaves the training whole and the figures out
		}
		from := key.stage - 1 // an activation, from the stage before
		if key.kind == msgGradient {
			from = key.stage + 1
		}
		pair := [2]string{names[t.ex.Sched.DeviceOf(from)], names[t.ex.Sched.DeviceOf(key.stage)]}
		sum := byPair[pair]
		if sum == nil {
			sum = &device.TransferStat{From: pair[0], To: pair[1], Path: sent.Path}
			byPair[pair] = sum
		}
		sum.Copies, sum.Bytes, sum.Seconds = sum.Copies+sent.Copies, sum.Bytes+sent.Bytes, sum.Seconds+sent.Seconds
	}
	out := t.ex.hostSent.stats(names)
	for _, s := range byPair {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b device.TransferStat) int {
		return cmp.Or(cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	return out
}

// gatherTransfers is, on rank 0, every rank's linkTransfers in rank order;
// every other rank sends its own to rank 0 and has none.
func (t *Trainer) gatherTransfers() ([]device.TransferStat, error) {
	mine := t.linkTransfers()
	g, tag := t.cfg.Group, dist.Tag{Kind: msgTransfers}
	if g.Rank() != 0 {
		return nil, g.sendGob(0, tag, mine)
	}
	for r := 1; r < g.Mesh.World(); r++ {
		var theirs []device.TransferStat
		if err := g.receiveGob(r, tag, fmt.Sprintf("gathering the links' transfers: rank %d's", r), &theirs); err != nil {
			return nil, err
		}
		mine = append(mine, theirs...)
	}
	return mine, nil
}
