// Links between a device of this process and one of another: buffers carried directly (NCCL between GPUs), matched in posting order.

package device

import (
	"fmt"

	"baton/kernels"
)

// PeerLink is this process's end of a link that carries buffers (float32,
// or bf16: a bf16 parameter with its float32 master) to or from one device
// of another process. Sends and receives match in the order each end posts
// them.
type PeerLink interface {
	// Send posts src to the other end after the device's work so far; the
	// returned event marks its end, which the device must Wait on before
	// it overwrites src.
	Send(src kernels.Buffer) (Event, error)
	// Recv posts the receive into dst; the device's later work waits for it.
	Recv(dst kernels.Buffer) error
	// Exchange sends src and receives dst at once (a link both ends send
	// on); the device's later work waits for both.
	Exchange(src, dst kernels.Buffer) error
	// Err is an error the link met after its calls returned, or nil.
	Err() error
	Close() error
}

// LinkID makes the name of a new link between two processes' devices of
// kind k, which its two ends share before opening it (OpenLink).
func LinkID(k Kind) ([]byte, error) {
	d, ok := drivers[k]
	if !ok || d.LinkID == nil {
		return nil, fmt.Errorf("%s devices cannot be linked across processes", k)
	}
	return d.LinkID()
}

// OpenLink opens end (0 or 1) of the link id on dev, waiting for the other
// end to open its own; the calling goroutine must have dev bound.
func OpenLink(dev Device, k Kind, id []byte, end int) (PeerLink, error) {
	d, ok := drivers[k]
	if !ok || d.OpenLink == nil {
		return nil, fmt.Errorf("%s devices cannot be linked across processes", k)
	}
	return d.OpenLink(dev, id, end)
}

// Linkable says whether devices of kind k can be linked across processes.
func Linkable(k Kind) bool {
	d, ok := drivers[k]
	return ok && d.LinkID != nil
}

// SendTimer is a link that times its sends (NCCL's, on a stream of their
// own): how many, their bytes and their time, with the path they took; the
// ends they joined are the caller's to name.
type SendTimer interface {
	Sent() (TransferStat, error)
}
