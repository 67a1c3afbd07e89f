// The mesh's sends: a frame in chunks, each bounded by SendTimeout, and the error that breaks the mesh when one fails.

package dist

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"
)

// writeChunk is how much of a payload one write hands to the connection:
// SendTimeout bounds each chunk, so a big message on a slow link is not
// taken for a peer that stopped reading.
const writeChunk = 1 << 20

// Send sends payload to rank to as message tag. Many goroutines may send
// at once; each frame goes whole. payload is not kept after Send returns.
// A failed send breaks the mesh, and Send returns the mesh's error.
func (m *Mesh) Send(to int, tag Tag, payload []byte) error {
	if to < 0 || to >= m.world || to == m.rank {
		return fmt.Errorf("dist: rank %d cannot send %v to rank %d in a world of %d", m.rank, tag, to, m.world)
	}
	if uint64(len(payload)) > MaxPayload {
		return fmt.Errorf("dist: a message of %d bytes to rank %d is over the limit of %d", len(payload), to, uint64(MaxPayload))
	}
	return m.write(m.peers[to], frameData, tag, payload, m.SendTimeout)
}

// write sends one frame to p, each chunk within timeout (0: no limit). A
// failure breaks the mesh, and write returns the mesh's error.
func (m *Mesh) write(p *peer, typ uint8, tag Tag, payload []byte, timeout time.Duration) error {
	var h [headerSize]byte
	putHeader(&h, typ, tag, payload)
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if err := m.Err(); err != nil {
		return err
	}
	if closed(p.gone) {
		m.fail(p.errorf("left the run before this rank could send %s", m.describeFrame(typ, tag)))
		return m.Err()
	}
	first := h[:]
	for {
		n := min(len(payload), writeChunk)
		var deadline time.Time
		if timeout > 0 {
			deadline = time.Now().Add(timeout)
		}
		p.conn.SetWriteDeadline(deadline)
		bufs := net.Buffers{first, payload[:n]}
		if _, err := bufs.WriteTo(p.conn); err != nil {
			return m.writeFailed(p, typ, tag, timeout, err)
		}
		first, payload = nil, payload[n:]
		if len(payload) == 0 {
			return nil
		}
	}
}

// writeFailed breaks the mesh for a failed write: a frame cut short leaves
// the stream unusable.
func (m *Mesh) writeFailed(p *peer, typ uint8, tag Tag, timeout time.Duration, err error) error {
	switch {
	case m.Err() != nil:
		// The mesh broke, and closed the connection under the write.
	case closed(p.gone):
		m.fail(p.errorf("left the run before this rank could send %s", m.describeFrame(typ, tag)))
	case errors.Is(err, os.ErrDeadlineExceeded):
		m.fail(p.errorf("sending %s made no progress for %v: the peer stopped reading", m.describeFrame(typ, tag), timeout))
	case errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET):
		// The peer is gone: a write can see it before the reader does.
		m.fail(p.errorf("connection lost: sending %s: %w", m.describeFrame(typ, tag), err))
	default:
		m.fail(p.errorf("sending %s: %w", m.describeFrame(typ, tag), err))
	}
	return m.Err()
}

// describe names a frame for errors.
func (m *Mesh) describeFrame(typ uint8, tag Tag) string {
	switch typ {
	case framePing:
		return "a clock ping"
	case framePong:
		return "a clock answer"
	}
	return m.describe(tag)
}

// describe words tag for errors: by Describe, else Tag.String.
func (m *Mesh) describe(tag Tag) string {
	if m.Describe != nil {
		return m.Describe(tag)
	}
	return tag.String()
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
