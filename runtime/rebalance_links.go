// Moving blocks between ranks whose devices are linked (GPUs through NCCL): each tensor goes from its old stage's GPU straight to its new stage's, never through the host.

package runtime

import (
	"cmp"
	"fmt"

	"baton/model"
	"baton/runtime/device"
	"baton/runtime/dist"
	"baton/transformer"
)

// linkBlocks sends every block that leaves this rank under pl from its
// old stage's device to its new stage's, and receives into stages (the
// new ones, built on every rank) those that come: over a link of their
// own per pair of devices, opened in movePairs' order on every rank and
// closed after it. It returns the names that landed here. Every transfer
// has ended when it returns; an error (a link that would not open, a
// transfer that failed or did not end within the group's timeout) leaves
// the devices in doubt, and the run cannot go on.
func (t *Trainer) linkBlocks(step int, pl *model.Plan, stages []*Stage) (map[string]bool, error) {
	g := t.cfg.Group
	at, into := holders(t.stages), holders(stages)
	landed := map[string]bool{}
	for i, p := range t.movePairs(pl) {
		end, other, dev, held := 0, g.Ranks[p.to], t.ex.Devices[p.from], at
		switch g.Rank() {
		case g.Ranks[p.from]:
		case g.Ranks[p.to]:
			end, other, dev, held = 1, g.Ranks[p.from], t.ex.Devices[p.to], into
		default:
			continue
		}
		what := fmt.Sprintf("rebalance after step %d: moving %d tensors from %s to %s", step, len(p.names), g.Names[p.from], g.Names[p.to])
		id, err := g.shareLinkID(t.cfg.Devices[0].Kind, end, other, dist.Tag{Kind: msgMoveLink, Step: int64(step), Stage: int32(i)}, "the link's id")
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if err := g.within(what, func() error { return carryOver(dev, t.cfg.Devices[0].Kind, id, end, p.names, held) }); err != nil {
			return nil, err
		}
		if end == 1 {
			for _, name := range p.names {
				landed[name] = true
			}
		}
	}
	return landed, nil
}

// carryOver opens end of the link id on dev and sends (end 0) or receives
// (end 1) the parameters and AdamW moments of names, where held says they
// are on dev; it returns once they have gone or come and the link is closed.
func carryOver(dev device.Device, kind device.Kind, id []byte, end int, names []string, held map[string]holder) (err error) {
	l, err := openLinkOn(dev, kind, id, end)
	if err != nil {
		return err
	}
	defer func() { err = cmp.Or(err, l.Close()) }() // after an error, Close aborts the link
	return guard(func() error {
		for _, name := range names {
			h := held[name]
			s := h.st.Stack
			for _, ps := range []*transformer.Params{s.P, s.M, s.V} {
				b := ps.T[h.i]
				if end == 1 {
					if err := l.Recv(b); err != nil {
						return err
					}
					continue
				}
				sent, err := l.Send(b)
				if err != nil {
					return err
				}
				dev.Wait(sent)
				if rel, ok := dev.(device.EventReleaser); ok {
					rel.Release(sent)
				}
			}
		}
		dev.Sync()
		return l.Err()
	})
}
