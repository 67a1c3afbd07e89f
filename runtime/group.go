// A run of several processes: which rank holds each device, and the messages a step sends between ranks.

package runtime

import (
	"bytes"
	"encoding/gob"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"baton/internal/field"
	"baton/kernels"
	"baton/model"
	"baton/runtime/device"
	"baton/runtime/dist"
	"baton/runtime/schedule"
)

// Group is this process's place in a run of several: the ranks' mesh, and
// the rank that holds each device of the schedule. Every rank runs the same
// schedule and plan; its executor runs the lists of its own devices, and a
// send or receive whose neighbour stage is in another rank goes through the
// mesh.
type Group struct {
	Mesh  *dist.Mesh
	Ranks []int    // per device of the schedule, in order: the rank that holds it
	Names []string // per device of the schedule: its name, "rank1/cpu:0"
	GPUs  []gpuOn  // per device of the schedule: the GPU it is on and its memory
	// Offsets is each rank's clock minus rank 0's, and Uncertainty the
	// most either may be off (ClockOffset's round trip halved).
	Offsets     []time.Duration
	Uncertainty time.Duration
	// Timeout bounds every wait between steps (a checkpoint's parts, the
	// stop flags, the records), in the time this process ran: a rank that
	// died or hangs fails the run.
	Timeout time.Duration

	server *dist.StoreServer // rank 0's
	dogs   watchdogs         // the waits' between steps (between)
	// left are the ends of the work within gave up waiting for (a move's
	// copies), still running on the devices until each sends its error.
	left []chan error
}

// Rank is this process's rank.
func (g *Group) Rank() int { return g.Mesh.Rank() }

// The kinds of message a step sends between ranks.
const (
	msgActivation uint8 = iota + 1 // a SEND_F's (B,T,C), to the next stage
	msgGradient                    // a SEND_B's (B,T,C), to the previous stage
	msgTied                        // one end's part of the tied embedding's gradient, to the other end
	msgSquares                     // a stage's gradient sums of squares (and the last stage's losses), to every rank
	msgLosses                      // an evaluation's losses, from the last stage to every rank
	msgStop                        // whether a rank was asked to stop, after each step, to every rank
	msgRecords                     // a rank's measured steps, to rank 0 for the merged report
	msgPart                        // a rank's word on its part of a checkpoint, written or not, to rank 0
	msgCommit                      // rank 0's word on a checkpoint, to every rank
	msgWindow                      // a rank's steps measured for a rebalance check, to rank 0
	msgVerdict                     // rank 0's rebalance verdict, to every rank
	msgBlocks                      // the parameters and moments of blocks that move to a rank
	msgMoved                       // whether a rank holds its new stages, to every rank
	msgBuilt                       // whether a rank built its new stages, to every rank, before its GPU receives into them
	msgMoveLink                    // a link's id for a move, from the rank that sends the blocks to the rank that takes them
	msgData                        // the sha256 of a rank's tokens, to every rank, before the first step
	msgBegin                       // rank 0's word that a checkpoint's new directory is ready for the parts, to every rank
	msgTransfers                   // a rank's sends over links, timed, to rank 0 for the report
	msgKinds                       // not a kind: one past the last, for a test to see each worded
)

// messageWords say what each kind of message carries, for errors.
var messageWords = map[uint8]string{
	msgActivation: "the activations", msgGradient: "the gradients", msgTied: "the tied embedding's gradient",
	msgSquares: "the gradients' sums of squares", msgLosses: "the evaluation's losses", msgStop: "whether to stop",
	msgRecords: "the measured steps", msgPart: "its word on its part of the checkpoint", msgCommit: "the word on the checkpoint",
	msgWindow: "the steps measured for a balance check", msgVerdict: "the balance check's verdict", msgBlocks: "the blocks that move",
	msgMoved: "whether it holds its new stages", msgBuilt: "whether it built its new stages", msgMoveLink: "a move's link id",
	msgData: "the checksum of its tokens", msgBegin: "the word that the checkpoint's directory is ready", msgLinkID: "a link's id",
	msgTransfers: "its links' transfers",
}

// describeTag words a message between ranks for errors: what it carries,
// for which stage and micro-batch (the stage receiving it), and of which
// training step where its tag holds one. A step's exchanges (activations,
// gradients, the tied gradient, sums of squares, losses) are tagged by the
// executor's own count of runs, evaluations included, which is no step.
func describeTag(t dist.Tag) string {
	what, ok := messageWords[t.Kind]
	switch {
	case !ok:
		return t.String()
	case t.Kind == msgActivation || t.Kind == msgGradient:
		return fmt.Sprintf("%s for stage %d, micro-batch %d", what, t.Stage, t.Microbatch)
	case t.Kind == msgLinkID || t.Kind == msgMoveLink:
		return fmt.Sprintf("%s (link %d)", what, t.Stage)
	case t.Step == 0 || t.Kind == msgTied || t.Kind == msgSquares || t.Kind == msgLosses:
		return what
	}
	return fmt.Sprintf("%s (step %d)", what, t.Step)
}

// send sends v to rank to as message tag, between steps.
func (g *Group) send(to int, tag dist.Tag, v []byte) error { return g.Mesh.Send(to, tag, v) }

// sendGob sends v, gob-encoded, to rank to as message tag, between steps.
func (g *Group) sendGob(to int, tag dist.Tag, v any) error {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return err
	}
	return g.send(to, tag, buf.Bytes())
}

// receiveGob waits for message tag from rank from, as receive does, and
// decodes it into v.
func (g *Group) receiveGob(from int, tag dist.Tag, what string, v any) error {
	msg, err := g.receive(from, tag, what)
	if err != nil {
		return err
	}
	if err := gob.NewDecoder(bytes.NewReader(msg)).Decode(v); err != nil {
		return fmt.Errorf("%s: rank %d's message: %w", what, from, err)
	}
	return nil
}

// receive waits for message tag from rank from, between steps: within the
// group's timeout, and failing at once when the mesh breaks.
func (g *Group) receive(from int, tag dist.Tag, what string) ([]byte, error) {
	msg, err := between(g, g.Mesh.Inbox(from, tag), what, func() error {
		g.Mesh.Silent(from, tag, g.Timeout) // so that the other ranks name it too
		return &linkError{fmt.Errorf("%s: rank %d (%s) sent nothing for %v", what, from, g.Mesh.Host(from), g.Timeout)}
	})
	if err != nil {
		g.Mesh.Forget(from, tag) // given up: the peer's orderly Close later breaks nothing
	}
	return msg, err
}

// within runs f, a wait on other ranks outside the mesh (a link's
// transfer), within the group's timeout, failing at once when the mesh
// breaks; on either, f is left running (its device is stuck) and the run
// cannot go on.
func (g *Group) within(what string, f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	err, werr := between(g, done, what, func() error {
		return fmt.Errorf("%s: not done after %v", what, g.Timeout)
	})
	if werr != nil {
		g.left = append(g.left, done) // f goes on, on the devices' memory
		return werr
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// settle waits, at most d, for the work within gave up waiting for, and
// says whether none is left: until then it may use the devices' memory
// and links, as a failed step's workers may (Executor.settle).
func (g *Group) settle(d time.Duration) bool {
	if g == nil {
		return true
	}
	g.left = settleLeft(g.left, d)
	return len(g.left) == 0
}

// between waits for ch between steps: failing at once, with the mesh's
// error, when the mesh breaks, and with expired's once the group's timeout
// (0: none) has passed in the time this process ran, as a step's receives
// count it (see watchdog). Every rank stopped at once (SIGSTOP to the job,
// a suspended machine) and continued thus goes on, as one process does: a
// wall clock would have run out while all were stopped, before the peer
// awaited, continued too, could send. A peer stopped or hung while this
// rank runs still fails the wait on time. No device progresses between
// steps, so nothing starts the count over.
func between[T any](g *Group, ch <-chan T, what string, expired func() error) (T, error) {
	broken := &brokenLink{c: g.Mesh.Broken(), err: func() error { return fmt.Errorf("%s: %w", what, g.Mesh.Err()) }}
	return waitFor(ch, &g.dogs, g.Timeout, nil, nil, broken, expired)
}

// anyStop tells every rank whether this one was asked to stop before step
// and says whether any was: so that all stop after the same step.
func (g *Group) anyStop(step int, stop bool) (bool, error) {
	flag := []byte{0}
	if stop {
		flag[0] = 1
	}
	what := fmt.Sprintf("before step %d", step)
	flags, err := g.exchange(dist.Tag{Kind: msgStop, Step: int64(step)}, flag, func(int) string { return what })
	if err != nil {
		return false, err
	}
	for _, msg := range flags {
		stop = stop || len(msg) == 1 && msg[0] == 1
	}
	return stop, nil
}

// exchange sends mine to every other rank as message tag and returns what
// each rank sent, by rank (mine at this rank's). what(r) names the message
// to or from rank r in errors.
func (g *Group) exchange(tag dist.Tag, mine []byte, what func(r int) string) ([][]byte, error) {
	for r := range g.Mesh.World() {
		if r != g.Rank() {
			if err := g.send(r, tag, mine); err != nil {
				return nil, fmt.Errorf("%s: %w", what(r), err)
			}
		}
	}
	all := make([][]byte, g.Mesh.World())
	for r := range all {
		if r == g.Rank() {
			all[r] = mine
			continue
		}
		msg, err := g.receive(r, tag, what(r))
		if err != nil {
			return nil, err
		}
		all[r] = msg
	}
	return all, nil
}

// place spreads this rank's devices over the schedule's, nil for the other
// ranks'; in a single process (g nil) they are the schedule's.
func (g *Group) place(own []device.Device) []device.Device {
	if g == nil {
		return own
	}
	all := make([]device.Device, len(g.Ranks))
	i := 0
	for d, r := range g.Ranks {
		if r == g.Rank() {
			all[d], i = own[i], i+1
		}
	}
	return all
}

// own is the part of pl on this rank's devices, for its memory check: its
// stages named by their devices' names here ("cuda:0/2#1", not
// "rank1/cuda:0/2#1"), as the check knows them.
func (g *Group) own(pl *model.Plan) *model.Plan {
	if g == nil {
		return pl
	}
	mine := *pl
	mine.Stages = nil
	here := fmt.Sprintf("rank%d/", g.Rank())
	for _, s := range pl.Stages {
		if g.Ranks[slices.Index(g.Names, s.Device)] == g.Rank() {
			s.Device = strings.TrimPrefix(s.Device, here)
			mine.Stages = append(mine.Stages, s)
		}
	}
	return &mine
}

// rankOf is the rank that holds stage s, or -1 in a single process.
func (ex *Executor) rankOf(s int) int {
	if ex.Group == nil {
		return -1
	}
	return ex.Group.Ranks[ex.Sched.DeviceOf(s)]
}

// deviceName names stage s's device, in this rank or another.
func (ex *Executor) deviceName(s int) string { return ex.devName(ex.Sched.DeviceOf(s)) }

// devName names device d of the schedule, in this rank or another.
func (ex *Executor) devName(d int) string {
	if ex.Devices[d] != nil {
		return ex.Devices[d].Name()
	}
	return ex.Group.Names[d]
}

// remote says whether stage s is in another rank.
func (ex *Executor) remote(s int) bool { return ex.Stages[s] == nil }

// tag names a message of the run's step seq.
func (r *run) tag(kind uint8, stage, mb int) dist.Tag {
	return dist.Tag{Kind: kind, Stage: int32(stage), Microbatch: int32(mb), Step: r.seq}
}

// sendBuffer copies src, on dev, to the rank of stage to, as message tag
// of action a; a failure says where this rank was, as a receive's does
// (the mesh's error names the message where the send itself failed).
func (r *run) sendBuffer(dev device.Device, a schedule.Action, to int, tag dist.Tag, src kernels.Buffer) error {
	t0 := time.Now()
	host := make([]float32, src.Len())
	dev.Ops().Download(host, src)
	rank := r.ex.rankOf(to)
	payload := dist.EncodeFloat32s(host)
	if err := r.ex.Group.Mesh.Send(rank, tag, payload); err != nil {
		return &linkError{fmt.Errorf("%w; this rank was sending %s to rank %d", err, a, rank)}
	}
	if tag.Kind != msgTied { // as over links, the tied embedding's exchange is not a boundary's
		r.ex.hostSent.add(r.ex.Sched.DeviceOf(a.Stage), r.ex.Sched.DeviceOf(to), len(payload), time.Since(t0))
	}
	return nil
}

// linkError is a failure of the mesh, not of the schedule: the worker
// reports it as it is, without the grid of actions.
type linkError struct{ err error }

func (e *linkError) Error() string { return e.err.Error() }
func (e *linkError) Unwrap() error { return e.err }

// LostRank reports whether err is this rank's loss of another rank (dead,
// or silent past the timeout), or of its link to one, rather than a failure
// of its own: the rank that failed is elsewhere, and baton launch names
// that one.
func LostRank(err error) bool {
	var link *linkError
	var peer *dist.PeerError
	return errors.As(err, &link) || errors.As(err, &peer)
}

// landBuffer writes an arrived message into dst on dev.
func landBuffer(dev device.Device, dst kernels.Buffer, msg []byte) error {
	host := make([]float32, dst.Len())
	if err := dist.DecodeFloat32s(msg, host); err != nil {
		return err
	}
	dev.Ops().Upload(dst, host)
	return nil
}

// sendValues sends v to every other rank as message tag.
func (r *run) sendValues(tag dist.Tag, v []float64) error {
	g := r.ex.Group
	payload := dist.EncodeFloat64s(v)
	for rank := range g.Mesh.World() {
		if rank != g.Rank() {
			if err := g.Mesh.Send(rank, tag, payload); err != nil {
				return err
			}
		}
	}
	return nil
}

// receiveMessage waits for message tag from stage from's rank, or fails as
// a local receive does: on the executor's timeout without progress, on an
// abort, or at once when the mesh breaks (a rank died or its link did),
// saying which rank and where this one was.
func (r *run) receiveMessage(a schedule.Action, from int, tag dist.Tag) ([]byte, error) {
	g, rank := r.ex.Group, r.ex.rankOf(from)
	broken := &brokenLink{c: g.Mesh.Broken(), err: func() error {
		return &linkError{fmt.Errorf("%w; this rank was waiting for %s from rank %d", g.Mesh.Err(), a, rank)}
	}}
	msg, err := await(r, g.Mesh.Inbox(rank, tag), broken, func() error {
		// The silent rank is lost: the failure (a hang) began there.
		return &linkError{&hang{rank: rank, tag: tag, err: field.Errorf("timeout", "waited %v for %s from rank %d (%s) without progress; this rank's devices are at: %s (an action that runs longer than {timeout} is taken for a hang: raise {timeout} if one does)", r.ex.Timeout, a, rank, g.Mesh.Host(rank), r.where())}}
	})
	if err != nil {
		g.Mesh.Forget(rank, tag) // given up: the peer's orderly Close later breaks nothing
	}
	return msg, err
}

// hang is a step's wait for message tag that timed out on rank, which this
// rank takes for hung. The run tells the other ranks (Mesh.Silent) once it
// has taken the error as its own (run.fail): this rank then reports its
// wait, not the mesh's break that its other waits see, and the others name
// the rank that hung, not this one, which they see leave.
type hang struct {
	rank int
	tag  dist.Tag
	err  error
}

func (h *hang) Error() string { return h.err.Error() }
func (h *hang) Unwrap() error { return h.err }

// brokenLink is a mesh's failure as await sees it: closed, and its error.
type brokenLink struct {
	c   <-chan struct{}
	err func() error
}
