// MASTER_ADDR as users write it: a bracketed IPv6 literal taken, a host with its port refused at once.

package dist

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// TestMasterAddrIsUsable: a bracketed IPv6 literal ("[::1]", as in a URL)
// loses its brackets, so that the store's address joins; a host with its
// port ("host0:29500", a common slip) is refused naming both variables,
// not dialled until the timeout.
func TestMasterAddrIsUsable(t *testing.T) {
	for _, addr := range []string{"[::1]", "[fe80::1%eth0]", "host0:29500", "10.0.0.1:29500"} {
		e, err := EnvFrom(getenv("RANK=1", "WORLD_SIZE=2", "MASTER_ADDR="+addr, "MASTER_PORT=29500"))
		if _, _, hasPort := net.SplitHostPort(addr); hasPort == nil {
			if err == nil || !strings.Contains(err.Error(), "MASTER_ADDR=") || !strings.Contains(err.Error(), "MASTER_PORT=29500") {
				t.Errorf("MASTER_ADDR=%q: error %v; want one saying to give the port as MASTER_PORT", addr, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("MASTER_ADDR=%q: %v", addr, err)
			continue
		}
		joined := net.JoinHostPort(e.MasterAddr, strconv.Itoa(e.MasterPort))
		host, port, err := net.SplitHostPort(joined)
		if err != nil || port != "29500" || net.ParseIP(host) == nil && host != "host0" && ipZone(host) == "" {
			t.Errorf("MASTER_ADDR=%q: EnvFrom took MasterAddr %q without error; the store's address %q is unusable (host %q, %v)",
				addr, e.MasterAddr, joined, host, err)
		}
	}
}

// ipZone is the address part of a zoned IPv6 literal ("fe80::1%eth0"), "" otherwise.
func ipZone(host string) string {
	for i := range len(host) {
		if host[i] == '%' && net.ParseIP(host[:i]) != nil {
			return host[:i]
		}
	}
	return ""
}
