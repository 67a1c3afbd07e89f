// The mesh's wire format: the hello that opens a connection (and the check of the peer's), and the checksummed frames that follow it.

package dist

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
)

// Tag names a message; (sender rank, Tag) is unique within a run.
type Tag struct {
	Kind              uint8
	Stage, Microbatch int32
	Step              int64
}

func (t Tag) String() string {
	return fmt.Sprintf("kind %d stage %d micro-batch %d step %d", t.Kind, t.Stage, t.Microbatch, t.Step)
}

// MaxPayload is the largest message a frame carries: far above a stage's
// activations or its share of a checkpoint, and far below a length that a
// damaged or foreign stream would claim.
const MaxPayload = 1 << 36

// protocolVersion changes whenever the hello or the frame changes, so that
// ranks of different builds refuse each other at the handshake.
const protocolVersion = 1

const (
	helloMagic uint32 = 0x424e4548 // "HENB" little-endian: opens a connection
	frameMagic uint32 = 0x424e4d46 // "FMNB" little-endian: opens every frame
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// A frame's type: a message for an inbox, the clock's round trip that the
// mesh's readers answer themselves, or the last word of a broken mesh.
const (
	frameData uint8 = iota
	framePing       // payload: sequence number, sender's wall clock
	framePong       // payload: the ping's two fields, then the answerer's wall clock
	frameBye        // payload: why the sender's mesh broke, "" when it was closed
)

// headerSize is the frame header's length. Layout, little-endian:
//
//	 0 magic           uint32
//	 4 type            uint8
//	 5 tag.Kind        uint8
//	 6 reserved        uint16 (zero)
//	 8 tag.Stage       int32
//	12 tag.Microbatch  int32
//	16 tag.Step        int64
//	24 payload length  uint64
//	32 payload CRC-32C uint32
//	36 header CRC-32C  uint32, of bytes 0..35
//
// The header has its own checksum so that a damaged length is caught
// before it is allocated and a damaged tag before it misdelivers.
const headerSize = 40

// header is a frame's header, decoded.
type header struct {
	typ    uint8
	tag    Tag
	length uint64
	crc    uint32 // of the payload
}

// putHeader writes the header of a frame of type typ carrying payload.
func putHeader(b *[headerSize]byte, typ uint8, tag Tag, payload []byte) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], frameMagic)
	b[4], b[5] = typ, tag.Kind
	le.PutUint16(b[6:], 0)
	le.PutUint32(b[8:], uint32(tag.Stage))
	le.PutUint32(b[12:], uint32(tag.Microbatch))
	le.PutUint64(b[16:], uint64(tag.Step))
	le.PutUint64(b[24:], uint64(len(payload)))
	le.PutUint32(b[32:], crc32.Checksum(payload, castagnoli))
	le.PutUint32(b[36:], crc32.Checksum(b[:36], castagnoli))
}

// parseHeader decodes and checks a header; its error says what is wrong.
func parseHeader(b *[headerSize]byte) (header, error) {
	le := binary.LittleEndian
	if m := le.Uint32(b[0:]); m != frameMagic {
		return header{}, fmt.Errorf("bad magic %#08x where a frame should start (want %#08x): the stream is out of step", m, frameMagic)
	}
	if got, want := crc32.Checksum(b[:36], castagnoli), le.Uint32(b[36:]); got != want {
		return header{}, fmt.Errorf("header checksum mismatch: CRC-32C of the header is %#08x, it says %#08x", got, want)
	}
	h := header{
		typ: b[4],
		tag: Tag{
			Kind:       b[5],
			Stage:      int32(le.Uint32(b[8:])),
			Microbatch: int32(le.Uint32(b[12:])),
			Step:       int64(le.Uint64(b[16:])),
		},
		length: le.Uint64(b[24:]),
		crc:    le.Uint32(b[32:]),
	}
	switch {
	case h.typ > frameBye || le.Uint16(b[6:]) != 0:
		return header{}, fmt.Errorf("unknown frame type %d (reserved %#04x)", h.typ, le.Uint16(b[6:]))
	case h.length > MaxPayload:
		return header{}, fmt.Errorf("impossible payload length %d (at most %d)", h.length, uint64(MaxPayload))
	case h.typ == framePing && h.length != pingSize, h.typ == framePong && h.length != pongSize,
		h.typ == frameBye && h.length > maxBye:
		return header{}, fmt.Errorf("frame of type %d with %d bytes", h.typ, h.length)
	}
	return h, nil
}

// checkPayload says whether payload is the one h announced.
func (h header) checkPayload(payload []byte) error {
	if got := crc32.Checksum(payload, castagnoli); got != h.crc {
		return fmt.Errorf("payload checksum mismatch for %v: CRC-32C of its %d bytes is %#08x, the header says %#08x", h.tag, len(payload), got, h.crc)
	}
	return nil
}

// The sizes of the mesh's own frames' payloads: the clock's (see
// framePing and framePong), and the most a bye's reason may take.
const (
	pingSize = 16
	pongSize = 24
	maxBye   = 4096
)

// hello opens a connection, each side's: who it is and what it speaks.
// Layout, little-endian: magic uint32, version uint16, address length
// uint16, rank uint32, world uint32, then the address (host:port) the
// sender published.
type hello struct {
	version     uint16
	rank, world int
	addr        string
}

const helloFixed = 16

func writeHello(w io.Writer, h hello) error {
	b := make([]byte, helloFixed+len(h.addr))
	le := binary.LittleEndian
	le.PutUint32(b[0:], helloMagic)
	le.PutUint16(b[4:], h.version)
	le.PutUint16(b[6:], uint16(len(h.addr)))
	le.PutUint32(b[8:], uint32(h.rank))
	le.PutUint32(b[12:], uint32(h.world))
	copy(b[helloFixed:], h.addr)
	_, err := w.Write(b)
	return err
}

// errNotPeer is a connection whose first bytes are not a baton hello.
var errNotPeer = errors.New("not a baton rank")

func readHello(r io.Reader) (hello, error) {
	var b [helloFixed]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return hello{}, err
	}
	le := binary.LittleEndian
	if m := le.Uint32(b[0:]); m != helloMagic {
		return hello{}, fmt.Errorf("%w: it began with %q", errNotPeer, b[:4])
	}
	h := hello{
		version: le.Uint16(b[4:]),
		rank:    int(le.Uint32(b[8:])),
		world:   int(le.Uint32(b[12:])),
	}
	addr := make([]byte, le.Uint16(b[6:]))
	if _, err := io.ReadFull(r, addr); err != nil {
		return hello{}, err
	}
	h.addr = string(addr)
	return h, nil
}

// handshake exchanges hellos on conn: the dialer of rank want speaks
// first; the acceptor (want -1) answers whatever it heard, so that both
// sides see a mismatch and name it.
func (m *Mesh) handshake(ctx context.Context, conn net.Conn, me hello, want int) (*peer, error) {
	stop := bound(ctx, conn)
	defer stop()
	var (
		them hello
		err  error
	)
	if want >= 0 {
		if err = writeHello(conn, me); err == nil {
			them, err = readHello(conn)
		}
	} else if them, err = readHello(conn); err == nil {
		err = writeHello(conn, me)
	}
	if err != nil {
		err = ctxErr(ctx, err)
		who := conn.RemoteAddr().String()
		if want >= 0 {
			who = fmt.Sprintf("rank %d at %s", want, who)
		}
		return nil, fmt.Errorf("dist: rank %d: handshake with %s: %w", m.rank, who, err)
	}
	if err := m.check(them, want); err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(them.addr)
	if err != nil {
		host = them.addr
	}
	return &peer{rank: them.rank, host: host, conn: conn, gone: make(chan struct{}), done: make(chan struct{})}, nil
}

// check refuses a peer whose hello does not fit this rank's.
func (m *Mesh) check(them hello, want int) error {
	switch {
	case them.version != protocolVersion:
		return fmt.Errorf("dist: rank %d speaks mesh protocol %d but rank %d at %s speaks %d: start every rank from the same build",
			m.rank, protocolVersion, them.rank, them.addr, them.version)
	case them.world != m.world:
		return fmt.Errorf("dist: rank %d has world size %d but rank %d at %s has %d: WORLD_SIZE must be the same on every rank",
			m.rank, m.world, them.rank, them.addr, them.world)
	case want >= 0 && them.rank != want:
		return fmt.Errorf("dist: rank %d dialed rank %d at the address it published, but rank %d at %s answered: check RANK on each host",
			m.rank, want, them.rank, them.addr)
	case want < 0 && (them.rank <= m.rank || them.rank >= m.world):
		return fmt.Errorf("dist: rank %d was dialed by rank %d at %s, but only higher ranks dial it: check RANK on each host",
			m.rank, them.rank, them.addr)
	}
	return nil
}
