// A process's place in a run of several: its rank and where rank 0 listens, read from what torchrun, Slurm's srun or Open MPI's mpirun set.

package dist

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Env is this process's place in a run: its rank among WorldSize
// processes, its rank among the LocalWorldSize processes on its host, and
// the address where rank 0 listens for the others.
type Env struct {
	Rank, WorldSize           int
	LocalRank, LocalWorldSize int
	MasterAddr                string
	MasterPort                int
	Source                    string // who set it: "torchrun", "slurm", "openmpi"; "" in a single process
	PortFrom                  string // what gave MasterPort, as a message names it: "MASTER_PORT", Slurm's job id
}

// EnvFrom reads this process's place from the launcher's variables in
// getenv (os.Getenv; an empty value counts as unset). torchrun's RANK and
// WORLD_SIZE come first (baton launch sets them too), then Slurm's
// SLURM_PROCID, then Open MPI's OMPI_COMM_WORLD_*; with none of them the
// process runs alone. Where a launcher's local rank or size is missing,
// every process is taken to be on this host. An error names the variable,
// its value and what it should be.
func EnvFrom(getenv func(string) string) (Env, error) {
	v := envVars(getenv)
	switch {
	case v.set("RANK") || v.set("WORLD_SIZE"):
		return v.torchrun()
	case v.set("SLURM_PROCID"):
		return v.slurm()
	case v.set("OMPI_COMM_WORLD_RANK") || v.set("OMPI_COMM_WORLD_SIZE"):
		return v.openMPI()
	}
	return Env{WorldSize: 1, LocalWorldSize: 1}, nil
}

// envVars reads a launcher's variables.
type envVars func(string) string

func (v envVars) set(name string) bool { return v(name) != "" }

// torchrun reads RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR and MASTER_PORT.
func (v envVars) torchrun() (Env, error) {
	e := Env{Source: "torchrun"}
	var err error
	if e.Rank, err = v.need("RANK", wantRank, "torchrun sets it with WORLD_SIZE"); err != nil {
		return Env{}, err
	}
	if e.WorldSize, err = v.need("WORLD_SIZE", wantCount, "torchrun sets it with RANK"); err != nil {
		return Env{}, err
	}
	if e.LocalRank, err = v.optional("LOCAL_RANK", wantRank, e.Rank); err != nil {
		return Env{}, err
	}
	if e.LocalWorldSize, err = v.optional("LOCAL_WORLD_SIZE", wantCount, e.WorldSize); err != nil {
		return Env{}, err
	}
	if err := e.check(v, "RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE"); err != nil {
		return Env{}, err
	}
	if err := v.master(&e, "WORLD_SIZE", "", 0, ""); err != nil {
		return Env{}, err
	}
	return e, nil
}

// openMPI reads what mpirun sets for each process. mpirun has no
// rendezvous address of its own to offer, so MASTER_ADDR and MASTER_PORT
// must come with it.
func (v envVars) openMPI() (Env, error) {
	e := Env{Source: "openmpi"}
	var err error
	if e.Rank, err = v.need("OMPI_COMM_WORLD_RANK", wantRank, "mpirun sets it"); err != nil {
		return Env{}, err
	}
	if e.WorldSize, err = v.need("OMPI_COMM_WORLD_SIZE", wantCount, "mpirun sets it"); err != nil {
		return Env{}, err
	}
	if e.LocalRank, err = v.optional("OMPI_COMM_WORLD_LOCAL_RANK", wantRank, e.Rank); err != nil {
		return Env{}, err
	}
	if e.LocalWorldSize, err = v.optional("OMPI_COMM_WORLD_LOCAL_SIZE", wantCount, e.WorldSize); err != nil {
		return Env{}, err
	}
	if err := e.check(v, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"); err != nil {
		return Env{}, err
	}
	if e.WorldSize > 1 && (!v.set("MASTER_ADDR") || !v.set("MASTER_PORT")) {
		return Env{}, errors.New("mpirun does not say where rank 0 listens: pass MASTER_ADDR and MASTER_PORT to every process, e.g. mpirun -x MASTER_ADDR=host0 -x MASTER_PORT=29500 …")
	}
	if err := v.master(&e, "OMPI_COMM_WORLD_SIZE", "", 0, ""); err != nil {
		return Env{}, err
	}
	return e, nil
}

// check relates the four numbers, named by the launcher's variables (v
// says which were set: a local rank not set is the rank's).
func (e Env) check(v envVars, rank, size, localRank, localSize string) error {
	switch {
	case e.LocalRank >= e.LocalWorldSize && e.Rank < e.WorldSize && e.LocalWorldSize <= e.WorldSize && !v.set(localRank):
		return fmt.Errorf("%s is not set, so it is %s=%d, which is not below %s=%d; set %s for each process (its index on its host)",
			localRank, rank, e.LocalRank, localSize, e.LocalWorldSize, localRank)
	case e.Rank >= e.WorldSize:
		return fmt.Errorf("%s=%d is not below %s=%d", rank, e.Rank, size, e.WorldSize)
	case e.LocalWorldSize > e.WorldSize:
		return fmt.Errorf("%s=%d is more than %s=%d", localSize, e.LocalWorldSize, size, e.WorldSize)
	case e.LocalRank >= e.LocalWorldSize:
		return fmt.Errorf("%s=%d is not below %s=%d", localRank, e.LocalRank, localSize, e.LocalWorldSize)
	}
	return nil
}

// master sets the rendezvous address: MASTER_ADDR and MASTER_PORT where
// set, else host and port (a launcher's own answer, port given by
// portFrom; "" and 0 for none).
// Several processes need both; one alone needs neither.
func (v envVars) master(e *Env, size, host string, port int, portFrom string) error {
	e.MasterAddr, e.MasterPort, e.PortFrom = host, port, portFrom
	if v.set("MASTER_ADDR") {
		addr, err := masterHost(strings.TrimSpace(v("MASTER_ADDR")))
		if err != nil {
			return err
		}
		e.MasterAddr = addr
	}
	if v.set("MASTER_PORT") {
		p, err := ParsePort(v("MASTER_PORT"))
		if err != nil {
			return fmt.Errorf("MASTER_PORT=%v", err)
		}
		e.MasterPort, e.PortFrom = p, "MASTER_PORT"
	}
	if e.WorldSize == 1 {
		return nil
	}
	if e.MasterAddr == "" {
		return fmt.Errorf("MASTER_ADDR is not set, and %s=%d processes need rank 0's host (torchrun and baton launch set it; by hand: MASTER_ADDR=host0 MASTER_PORT=29500)", size, e.WorldSize)
	}
	if e.MasterPort == 0 {
		return fmt.Errorf("MASTER_PORT is not set, and %s=%d processes need the port rank 0 listens on (torchrun and baton launch set it; by hand: MASTER_PORT=29500)", size, e.WorldSize)
	}
	return nil
}

// masterHost is MASTER_ADDR's host as net.JoinHostPort takes it: an IPv6
// literal without its brackets; a value that holds a port as well is
// refused at once, not dialled until --timeout runs out.
func masterHost(addr string) (string, error) {
	if strings.HasPrefix(addr, "[") && strings.HasSuffix(addr, "]") {
		addr = addr[1 : len(addr)-1]
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		return "", fmt.Errorf("MASTER_ADDR=%q holds a port; give the host alone (MASTER_ADDR=%s) and the port as MASTER_PORT=%s", addr, host, port)
	}
	if strings.ContainsAny(addr, "[]/ ") {
		return "", fmt.Errorf("MASTER_ADDR=%q is not a host name or address; give rank 0's host, e.g. MASTER_ADDR=host0 or 10.0.0.1", addr)
	}
	return addr, nil
}

// ParsePort parses a TCP port, 1 to 65535; its error begins with the
// quoted value, for the caller to prefix with the value's name.
func ParsePort(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%q is not a port (1-65535)", s)
	}
	return p, nil
}

// What an integer variable holds, for its errors.
const (
	wantRank  = "a rank (0 or more)"
	wantCount = "a count (1 or more)"
	wantIndex = "an index (0 or more)"
)

// need reads name, which must be set, as an integer that is what
// (wantRank, wantCount or wantIndex); why says who sets it, for the error.
func (v envVars) need(name, what, why string) (int, error) {
	if !v.set(name) {
		return 0, fmt.Errorf("%s is not set (%s)", name, why)
	}
	return v.optional(name, what, 0)
}

// optional reads name as an integer that is what, or def when unset.
func (v envVars) optional(name, what string, def int) (int, error) {
	s := v(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%s=%q is not %s", name, s, what)
	}
	if n < 0 || n == 0 && what == wantCount {
		return 0, fmt.Errorf("%s=%d is not %s", name, n, what)
	}
	return n, nil
}

// firstSet is the first of names that is set, or "".
func firstSet(v envVars, names ...string) string {
	for _, n := range names {
		if v.set(n) {
			return n
		}
	}
	return ""
}
