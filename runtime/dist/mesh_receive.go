// The mesh's receives: a reader per peer that delivers each frame to its inbox, and payloads allocated as their bytes arrive.

package dist

import (
	"bufio"
	"fmt"
	"io"
	"slices"
)

// Inbox is where message tag from rank from arrives, once; it may have
// arrived already. The mesh forgets the message once it is handed over.
// The channel is never closed: wait on Broken beside it, and Forget a wait
// given up.
func (m *Mesh) Inbox(from int, tag Tag) <-chan []byte {
	if from < 0 || from >= m.world || from == m.rank {
		panic(fmt.Sprintf("dist: rank %d has no inbox for rank %d in a world of %d", m.rank, from, m.world))
	}
	k := inboxKey{from, tag}
	p := m.peers[from]
	m.mu.Lock()
	ch, ok := m.slot(k)
	if ok && len(ch) == 1 { // arrived: handed over now
		delete(m.inbox, k)
	}
	never := !ok && closed(p.gone)
	m.mu.Unlock()
	if never {
		m.fail(p.errorf("left the run before sending %s", m.describe(tag)))
	}
	return ch
}

// Forget gives up a wait for message tag from rank from that Inbox began
// (the caller timed out or was aborted): its empty slot goes, so that the
// peer's orderly Close later is not taken for leaving while this rank
// waited. A message that arrives after is kept, as one never asked for is.
func (m *Mesh) Forget(from int, tag Tag) {
	k := inboxKey{from, tag}
	m.mu.Lock()
	if ch, ok := m.inbox[k]; ok && len(ch) == 0 {
		delete(m.inbox, k)
	}
	m.mu.Unlock()
}

// deliver hands an arrived message to its inbox, or keeps it for Inbox.
func (m *Mesh) deliver(p *peer, tag Tag, payload []byte) error {
	k := inboxKey{p.rank, tag}
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, ok := m.slot(k)
	switch {
	case ok && len(ch) == 1:
		return p.errorf("protocol error: it sent %v twice", tag)
	case ok: // asked for: handed over now
		delete(m.inbox, k)
	}
	ch <- payload
	return nil
}

// slot is k's channel, made where neither Inbox nor deliver came for k
// before (ok false). The caller holds mu.
func (m *Mesh) slot(k inboxKey) (ch chan []byte, ok bool) {
	if ch, ok = m.inbox[k]; !ok {
		ch = make(chan []byte, 1)
		m.inbox[k] = ch
	}
	return ch, ok
}

// read receives p's frames until its connection ends, a bad frame, or p's
// bye. It goes on after the mesh broke, so that a closing rank reads until
// its peer's end closes and its own close sends no reset (which would
// discard what the peer has not read yet: the last messages, the bye).
func (m *Mesh) read(p *peer) {
	defer m.wg.Done()
	defer close(p.done)
	r := bufio.NewReaderSize(p.conn, 64<<10)
	var b [headerSize]byte
	for {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			m.fail(p.lost(err))
			return
		}
		h, err := parseHeader(&b)
		if err != nil {
			m.fail(p.errorf("bad frame: %w", err))
			return
		}
		payload, err := readPayload(r, h.length)
		if err != nil {
			m.fail(p.lost(err))
			return
		}
		if err := h.checkPayload(payload); err != nil {
			m.fail(p.errorf("bad frame: %w", err))
			return
		}
		switch h.typ {
		case frameData:
			err = m.deliver(p, h.tag, payload)
		case framePing:
			m.answer(p, payload)
		case framePong:
			m.pong(payload)
		case frameBye:
			if len(payload) > 0 {
				m.fail(p.errorf("its mesh broke: %s", payload))
			} else {
				m.leave(p)
			}
			return
		}
		if err != nil {
			m.fail(err)
			return
		}
	}
}

// payloadChunk is how much of a payload is allocated ahead of its bytes:
// a header that claims far more than its peer sends (a buggy or hostile
// peer; its CRC holds) must not make this rank allocate it all at once.
const payloadChunk = 64 << 20

// readPayload reads a payload of n bytes, growing its buffer as they
// arrive, at most payloadChunk ahead of them.
func readPayload(r io.Reader, n uint64) ([]byte, error) {
	payload := make([]byte, 0, min(n, payloadChunk))
	for uint64(len(payload)) < n {
		k := min(n-uint64(len(payload)), payloadChunk)
		payload = slices.Grow(payload, int(k))
		if _, err := io.ReadFull(r, payload[len(payload):len(payload)+int(k)]); err != nil {
			return nil, err
		}
		payload = payload[:len(payload)+int(k)]
	}
	return payload, nil
}
