// FuzzShard: the shard parser must reject or faithfully decode any bytes, never panic.

package data

import (
	"bytes"
	"testing"
)

func FuzzShard(f *testing.F) {
	ts := seq(65530, 12) // wraps through 65535 to 0
	f.Add(shardBytes(ShardMagic, ShardVersion, 12, ts))
	f.Add(shardBytes(ShardMagic, ShardVersion, 1, ts[:1]))
	f.Add(shardBytes(20240801, 7, 12, ts))
	f.Add(shardBytes(ShardMagic, 2, 12, ts))
	f.Add(shardBytes(ShardMagic, ShardVersion, 13, ts))
	f.Add(shardBytes(ShardMagic, ShardVersion, 0, nil))
	f.Add(shardBytes(ShardMagic, ShardVersion, -1, ts))
	f.Add(shardBytes(ShardMagic, ShardVersion, 1<<31-1, ts))
	f.Add(append(shardBytes(ShardMagic, ShardVersion, 12, ts), 0))
	f.Add([]byte{})
	f.Add([]byte("20240520"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bytes.NewReader(b)
		n, err := shardLen(r, int64(len(b)), "fuzz.bin")
		if err != nil {
			return
		}
		got := make([]uint16, n)
		if err := readTokens(r, got, "fuzz.bin"); err != nil {
			t.Fatalf("header accepted but tokens unreadable: %v", err)
		}
		// Accepted input is a header (whose unused fields may hold
		// anything) followed by exactly the encoding of the tokens.
		if len(b) != shardHeader+2*n || !bytes.Equal(b[shardHeader:], shardBytes(0, 0, 0, got)[shardHeader:]) {
			t.Fatalf("accepted %d bytes as %d tokens that do not re-encode to them", len(b), n)
		}
	})
}
