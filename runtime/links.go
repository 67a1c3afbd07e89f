// Links for a run of several processes on devices that reach each other directly (GPUs through NCCL): one per stage boundary between ranks and direction, one for the tied embedding.

package runtime

import (
	"fmt"
	"os"
	"slices"

	"baton/runtime/device"
	"baton/runtime/dist"
	"baton/runtime/schedule"
)

// linkKey names a link by what it carries: activations to stage, gradients
// to stage, or (msgTied, 0) the tied embedding's gradient both ways.
type linkKey struct {
	kind  uint8
	stage int
}

// msgLinkID carries a link's id from its end 0 to its end 1.
const msgLinkID uint8 = 100

// link is the link that carries kind to stage, or nil: the data go through
// the mesh (one process, devices without links, or a boundary whose sends
// and receives the schedule posts in different orders).
func (ex *Executor) link(kind uint8, stage int) device.PeerLink {
	return ex.links[linkKey{kind, stage}]
}

// linkWant is a link a run needs: its key, and the stages at end 0 (the
// sender, or the first stage for the tied one) and end 1.
type linkWant struct {
	key        linkKey
	from, to   int
	sendsKind  schedule.Kind
	recvsKind  schedule.Kind
	bothDirect bool
}

// wantedLinks are the links between this schedule's stages in different
// ranks, in one order every rank computes alike: the order they are opened
// in, which must be the same on every rank (opening one waits for its other end).
func (ex *Executor) wantedLinks() []linkWant {
	var out []linkWant
	last := len(ex.Stages) - 1
	for s := range last {
		if ex.rankOf(s) == ex.rankOf(s+1) {
			continue
		}
		out = append(out,
			linkWant{key: linkKey{msgActivation, s + 1}, from: s, to: s + 1, sendsKind: schedule.SendF, recvsKind: schedule.RecvF},
			linkWant{key: linkKey{msgGradient, s}, from: s + 1, to: s, sendsKind: schedule.SendB, recvsKind: schedule.RecvB})
	}
	if last > 0 && ex.rankOf(0) != ex.rankOf(last) {
		out = append(out, linkWant{key: linkKey{msgTied, 0}, from: 0, to: last, bothDirect: true})
	}
	return out
}

// postedInOrder says whether the schedule posts w's sends and receives in
// the same order of micro-batches: a link matches them in posting order.
func (ex *Executor) postedInOrder(w linkWant) bool {
	if w.bothDirect {
		return true // one exchange per step
	}
	order := func(stage int, kind schedule.Kind) []int {
		var mbs []int
		for _, a := range ex.Sched.Lists[ex.Sched.DeviceOf(stage)] {
			if a.Stage == stage && a.Kind == kind {
				mbs = append(mbs, a.Microbatch)
			}
		}
		return mbs
	}
	return slices.Equal(order(w.from, w.sendsKind), order(w.to, w.recvsKind))
}

// openLinks opens this rank's ends of the links its run needs, where its
// devices can have them and BATON_NCCL is not "off" (then, as for CPU
// devices, the data go through the mesh). End 0 makes each link's id and
// sends it to end 1 through the mesh; both then open it, in wantedLinks'
// order on every rank.
func (t *Trainer) openLinks() (map[linkKey]device.PeerLink, error) {
	g, ex := t.cfg.Group, t.ex
	if !t.linked() {
		return nil, nil
	}
	kind := t.cfg.Devices[0].Kind
	links := map[linkKey]device.PeerLink{}
	for i, w := range ex.wantedLinks() {
		end, stage, other := -1, 0, 0
		switch g.Rank() {
		case ex.rankOf(w.from):
			end, stage, other = 0, w.from, ex.rankOf(w.to)
		case ex.rankOf(w.to):
			end, stage, other = 1, w.to, ex.rankOf(w.from)
		}
		if end < 0 || !ex.postedInOrder(w) {
			continue
		}
		id, err := g.shareLinkID(kind, end, other, dist.Tag{Kind: msgLinkID, Stage: int32(i)}, fmt.Sprintf("link %d's id", i))
		if err != nil {
			closeLinks(links)
			return nil, fmt.Errorf("linking stage %d with rank %d: %w (BATON_NCCL=off sends through the host instead)", stage, other, err)
		}
		l, err := openLinkOn(ex.Stages[stage].Device, kind, id, end)
		if err != nil {
			closeLinks(links)
			return nil, fmt.Errorf("linking stage %d with rank %d: %w (BATON_NCCL=off sends through the host instead)", stage, other, err)
		}
		links[w.key] = l
	}
	return links, nil
}

// shareLinkID gives a new link's two ends its id: end 0 makes it (for
// devices of kind) and sends it to rank other as message tag; end 1
// receives it (what names it should it not come).
func (g *Group) shareLinkID(kind device.Kind, end, other int, tag dist.Tag, what string) ([]byte, error) {
	if end == 1 {
		return g.receive(other, tag, what)
	}
	id, err := device.LinkID(kind)
	if err == nil {
		err = g.send(other, tag, id)
	}
	return id, err
}

// openLinkOn opens end of the link id on dev, bound to it, waiting for the
// other end; a device's failure (it panics in the driver's calls) is an error.
func openLinkOn(dev device.Device, kind device.Kind, id []byte, end int) (l device.PeerLink, err error) {
	err = guard(func() error {
		defer dev.Bind()()
		var err error
		l, err = device.OpenLink(dev, kind, id, end)
		return err
	})
	return l, err
}

// linked says whether this run's ranks carry data between their devices
// over links (NCCL), not through the host.
func (t *Trainer) linked() bool {
	return t.cfg.Group != nil && os.Getenv("BATON_NCCL") != "off" && device.Linkable(t.cfg.Devices[0].Kind)
}

// closeLinks closes every link, ignoring errors: for cleaning up.
func closeLinks(links map[linkKey]device.PeerLink) {
	for _, l := range links {
		l.Close()
	}
}

// linkErr is the first error a link met after its calls returned.
func (ex *Executor) linkErr() error {
	for k, l := range ex.links {
		if err := l.Err(); err != nil {
			return &linkError{fmt.Errorf("the link to stage %d: %w", k.stage, err)}
		}
	}
	return nil
}
