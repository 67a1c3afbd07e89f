// llm.c token shards: the .bin format's reader, writer and validation.

package data

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"baton/internal/fsutil"
)

const (
	// ShardMagic is the first int32 of an llm.c token shard.
	ShardMagic = 20240520
	// ShardVersion is the only version understood: uint16 tokens.
	ShardVersion = 1
	// shardHeader is the header's size in bytes: 256 little-endian int32.
	shardHeader = 256 * 4
)

// ReadShard reads one llm.c token shard.
func ReadShard(path string) ([]uint16, error) {
	f, n, err := openShard(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ts := make([]uint16, n)
	if err := readTokens(f, ts, path); err != nil {
		return nil, err
	}
	return ts, nil
}

// openShard opens path and checks its header; the file is left positioned
// at the first of its n tokens.
func openShard(path string) (f *os.File, n int, err error) {
	f, err = os.Open(path)
	if err != nil {
		return nil, 0, missing(path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
		}
	}()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("data: %v", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("data: %s is not a regular file; give an llm.c .bin shard", path)
	}
	n, err = shardLen(f, fi.Size(), path)
	if err != nil {
		return nil, 0, err
	}
	return f, n, nil
}

// shardLen reads and checks the header of a shard of size bytes read from r
// and returns its token count. The count is checked against size before
// anything is allocated, so a corrupt header cannot ask for huge memory.
func shardLen(r io.Reader, size int64, name string) (int, error) {
	var h [shardHeader]byte
	// The magic is checked before the length, so that a short file that
	// is no shard at all is not called a truncated one.
	if _, err := io.ReadFull(r, h[:min(size, shardHeader)]); err != nil {
		return 0, fmt.Errorf("data: reading the header of %s: %v", name, err)
	}
	field := func(i int) int32 { return int32(binary.LittleEndian.Uint32(h[4*i:])) }
	if m := field(0); size >= 4 && m != ShardMagic {
		return 0, fmt.Errorf("data: %s: not an llm.c token shard: magic %d, want %d", name, m, ShardMagic)
	}
	if size < shardHeader {
		return 0, fmt.Errorf("data: %s is truncated: %d bytes, shorter than the %d-byte llm.c shard header", name, size, shardHeader)
	}
	if v := field(1); v != ShardVersion {
		return 0, fmt.Errorf("data: %s: unsupported llm.c shard version %d; only version %d (uint16 tokens) is supported", name, v, ShardVersion)
	}
	n := int64(field(2))
	have := (size - shardHeader) / 2
	switch {
	case n < 0:
		return 0, fmt.Errorf("data: %s is corrupt: header says %d tokens", name, n)
	case n == 0:
		return 0, fmt.Errorf("data: %s is an empty shard (header says 0 tokens); remove it or regenerate it", name)
	case n > have:
		return 0, fmt.Errorf("data: %s is truncated: header says %d tokens, file has %d", name, n, have)
	case n < have || (size-shardHeader)%2 != 0:
		return 0, fmt.Errorf("data: %s is corrupt: header says %d tokens, file has %d and %d stray bytes", name, n, have, (size-shardHeader)%2)
	}
	return int(n), nil
}

// readTokens fills ts with little-endian uint16 tokens from r, a block at a
// time so that no second copy of the shard is ever in memory.
func readTokens(r io.Reader, ts []uint16, name string) error {
	buf := make([]byte, min(2*len(ts), 1<<20))
	for done := 0; done < len(ts); {
		b := buf[:min(len(buf), 2*(len(ts)-done))]
		if _, err := io.ReadFull(r, b); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("data: %s is truncated: it ended after %d of its tokens", name, done)
			}
			return fmt.Errorf("data: reading %s: %v", name, err)
		}
		for i := 0; i < len(b); i += 2 {
			ts[done] = binary.LittleEndian.Uint16(b[i:])
			done++
		}
	}
	return nil
}

// WriteShard writes tokens as an llm.c shard at path, atomically: a reader
// never sees a half-written shard.
func WriteShard(path string, tokens []uint16) error {
	if len(tokens) == 0 {
		return fmt.Errorf("data: refusing to write %s: a shard needs at least one token", path)
	}
	if int64(len(tokens)) > 1<<31-1 {
		return fmt.Errorf("data: refusing to write %s: %d tokens do not fit the int32 count of an llm.c header; split them over several shards", path, len(tokens))
	}
	err := fsutil.WriteAtomic(path, func(w io.Writer) error {
		var h [shardHeader]byte
		binary.LittleEndian.PutUint32(h[0:], ShardMagic)
		binary.LittleEndian.PutUint32(h[4:], ShardVersion)
		binary.LittleEndian.PutUint32(h[8:], uint32(len(tokens)))
		if _, err := w.Write(h[:]); err != nil {
			return err
		}
		var b [2]byte
		for _, t := range tokens {
			binary.LittleEndian.PutUint16(b[:], t)
			if _, err := w.Write(b[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}
