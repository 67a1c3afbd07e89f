// Clock offsets between ranks, by round trips that the peer's mesh answers by itself.

package dist

import (
	"encoding/binary"
	"fmt"
	"time"
)

// pingTimeout is how long a clock ping may wait for its answer (and each
// answer's write may take): long enough to queue behind a big message on
// a slow link.
const pingTimeout = 30 * time.Second

// ClockOffset is peer's wall clock minus this rank's, from samples round
// trips: each sends this rank's time and gets the peer's back. The round
// trip is timed on the monotonic clock; the sample with the shortest one
// gives offset = t_peer - (t_send + t_recv)/2, and uncertainty is half that
// round trip (the peer read its clock somewhere within it).
func (m *Mesh) ClockOffset(peer int, samples int) (offset, uncertainty time.Duration, err error) {
	if peer < 0 || peer >= m.world || peer == m.rank {
		return 0, 0, fmt.Errorf("dist: rank %d cannot measure its clock against rank %d in a world of %d", m.rank, peer, m.world)
	}
	if samples < 1 {
		return 0, 0, fmt.Errorf("dist: a clock offset needs at least one round trip, not %d", samples)
	}
	p := m.peers[peer]
	best := time.Duration(-1)
	for range samples {
		seq, answer := m.expectPong()
		var ping [pingSize]byte
		t0 := time.Now()
		binary.LittleEndian.PutUint64(ping[0:], seq)
		binary.LittleEndian.PutUint64(ping[8:], uint64(t0.UnixNano()))
		if err := m.write(p, framePing, Tag{}, ping[:], pingTimeout); err != nil {
			m.forgetPong(seq)
			return 0, 0, err
		}
		timer := time.NewTimer(pingTimeout)
		var peerNow int64
		select {
		case peerNow = <-answer:
			timer.Stop()
		case <-m.broken:
			m.forgetPong(seq)
			return 0, 0, m.Err()
		case <-p.gone:
			m.forgetPong(seq)
			m.fail(p.errorf("left the run before answering a clock ping"))
			return 0, 0, m.Err()
		case <-timer.C:
			m.forgetPong(seq)
			return 0, 0, p.errorf("no answer to a clock ping within %v", pingTimeout)
		}
		rtt := time.Since(t0)
		if best < 0 || rtt < best {
			best = rtt
			offset = time.Duration(peerNow-t0.UnixNano()) - rtt/2
		}
	}
	return offset, best / 2, nil
}

// expectPong registers a ping's sequence number and the channel where its
// answer's time arrives.
func (m *Mesh) expectPong() (uint64, chan int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	ch := make(chan int64, 1)
	m.pongs[m.seq] = ch
	return m.seq, ch
}

func (m *Mesh) forgetPong(seq uint64) {
	m.mu.Lock()
	delete(m.pongs, seq)
	m.mu.Unlock()
}

// answer sends a ping back with this rank's time. It writes from its own
// goroutine: a reader that wrote could deadlock with the peer's reader,
// each blocked on a write the other does not read.
func (m *Mesh) answer(p *peer, ping []byte) {
	var pong [pongSize]byte
	copy(pong[:], ping)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		if closed(p.gone) {
			return // no one waits for the answer
		}
		binary.LittleEndian.PutUint64(pong[16:], uint64(time.Now().UnixNano()))
		m.write(p, framePong, Tag{}, pong[:], pingTimeout) // a failure has broken the mesh
	}()
}

// pong hands an answer's time to its waiting ping; a late answer, whose
// ping gave up, is dropped.
func (m *Mesh) pong(payload []byte) {
	seq := binary.LittleEndian.Uint64(payload[0:])
	m.mu.Lock()
	ch := m.pongs[seq]
	delete(m.pongs, seq)
	m.mu.Unlock()
	if ch != nil {
		ch <- int64(binary.LittleEndian.Uint64(payload[16:]))
	}
}
