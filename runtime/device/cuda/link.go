//go:build cuda

// Links between CUDA devices of two processes: a two-rank NCCL communicator each, as the device registry offers them to the runtime.

package cuda

import (
	"fmt"

	"baton/kernels"
	"baton/runtime/device"
)

// link is one end of a two-rank communicator: end 0 and end 1 are its ranks.
type link struct {
	comm *Comm
	peer int
}

func (l *link) Send(src kernels.Buffer) (device.Event, error) { return l.comm.Send(src, l.peer) }
func (l *link) Recv(dst kernels.Buffer) error                 { return l.comm.Recv(dst, l.peer) }
func (l *link) Exchange(src, dst kernels.Buffer) error        { return l.comm.Exchange(src, dst, l.peer) }
func (l *link) Err() error                                    { return l.comm.Check() }
func (l *link) Close() error                                  { return l.comm.Close() }
func (l *link) Sent() (device.TransferStat, error)            { return l.comm.Sent() }

// newLinkID is a fresh NCCL id, as the link's two ends share it.
func newLinkID() ([]byte, error) {
	id, err := NewNCCLID()
	if err != nil {
		return nil, err
	}
	return id[:], nil
}

// openLink opens end of the link id on dev, a CUDA device.
func openLink(dev device.Device, id []byte, end int) (device.PeerLink, error) {
	d, ok := dev.(*Device)
	if !ok {
		return nil, fmt.Errorf("%s is not a CUDA device", dev.Name())
	}
	var nid NCCLID
	if len(id) != len(nid) {
		return nil, fmt.Errorf("an NCCL id of %d bytes, want %d", len(id), len(nid))
	}
	copy(nid[:], id)
	comm, err := NewComm(d, nid, 2, end)
	if err != nil {
		return nil, err
	}
	return &link{comm: comm, peer: 1 - end}, nil
}
