// A transfer's line gives its rate in GB/s, or in MB/s below one GB/s, where GB/s would read 0.0.

package device

import "testing"

func TestTransferStatRate(t *testing.T) {
	for _, c := range []struct {
		bytes   int64
		seconds float64
		want    string
	}{
		{2e9, 1, "a → b: p, 3 copies, 2000.0 MB, 2.0 GB/s"},
		{4e6, 0.1, "a → b: p, 3 copies, 4.0 MB, 40.0 MB/s"},
		{0, 0, "a → b: p, 3 copies, 0.0 MB, 0.0 MB/s"},
	} {
		if got := (TransferStat{From: "a", To: "b", Path: "p", Copies: 3, Bytes: c.bytes, Seconds: c.seconds}).String(); got != c.want {
			t.Errorf("%d bytes in %v s: %q, want %q", c.bytes, c.seconds, got, c.want)
		}
	}
}
