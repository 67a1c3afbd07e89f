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
}

// slurmPortBase is where the port a Slurm job derives from its id starts
// when MASTER_PORT is not set: 20000 + SLURM_JOB_ID mod 20000. Every task
// of the job computes the same port with no exchange, above the common
// services and below Linux's ephemeral range (32768-60999), and two jobs
// sharing a node get different ports unless their ids are 20000 apart.
const slurmPortBase = 20000

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
	if err := v.master(&e, "WORLD_SIZE", "", 0); err != nil {
		return Env{}, err
	}
	return e, nil
}

// slurm reads what srun sets for each task. The master is the first host
// of the step's node list (rank 0 runs there under srun's default block
// distribution), or of the job's outside a step.
func (v envVars) slurm() (Env, error) {
	e := Env{Source: "slurm"}
	var err error
	if e.Rank, err = v.need("SLURM_PROCID", wantRank, "srun sets it"); err != nil {
		return Env{}, err
	}
	if e.WorldSize, err = v.need("SLURM_NTASKS", wantCount, "srun sets it; give sbatch or srun a task count (-n)"); err != nil {
		return Env{}, err
	}
	if e.LocalRank, err = v.optional("SLURM_LOCALID", wantRank, e.Rank); err != nil {
		return Env{}, err
	}
	if e.LocalWorldSize, err = v.slurmLocalSize(e.WorldSize); err != nil {
		return Env{}, err
	}
	if err := e.check(v, "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", v.slurmLocalName()); err != nil {
		return Env{}, err
	}
	host, port := "", 0
	if e.WorldSize > 1 && !v.set("MASTER_ADDR") {
		name := firstSet(v, "SLURM_STEP_NODELIST", "SLURM_JOB_NODELIST", "SLURM_NODELIST")
		if name == "" {
			return Env{}, fmt.Errorf("SLURM_JOB_NODELIST is not set, and SLURM_NTASKS=%d needs rank 0's host: run under srun, or set MASTER_ADDR", e.WorldSize)
		}
		if host, err = FirstHost(v(name)); err != nil {
			return Env{}, fmt.Errorf("%s=%q: %v", name, v(name), err)
		}
	}
	if e.WorldSize > 1 && !v.set("MASTER_PORT") {
		if !v.set("SLURM_JOB_ID") {
			return Env{}, fmt.Errorf("SLURM_JOB_ID is not set, and SLURM_NTASKS=%d needs a port to derive from it: run under srun, or set MASTER_PORT", e.WorldSize)
		}
		id, err := v.optional("SLURM_JOB_ID", wantIndex, 0)
		if err != nil {
			return Env{}, err
		}
		port = slurmPortBase + id%20000
	}
	if err := v.master(&e, "SLURM_NTASKS", host, port); err != nil {
		return Env{}, err
	}
	return e, nil
}

// slurmLocalName is the variable that gives this node's task count.
func (v envVars) slurmLocalName() string {
	if v.set("SLURM_NTASKS_PER_NODE") {
		return "SLURM_NTASKS_PER_NODE"
	}
	return "SLURM_TASKS_PER_NODE"
}

// slurmLocalSize is this node's task count: SLURM_NTASKS_PER_NODE where the
// job asked for one, else this node's entry of SLURM_TASKS_PER_NODE
// ("4(x2),3": 4 on nodes 0 and 1, 3 on node 2), indexed by SLURM_NODEID;
// without either, all world tasks, as if on one node.
func (v envVars) slurmLocalSize(world int) (int, error) {
	if v.set("SLURM_NTASKS_PER_NODE") {
		return v.optional("SLURM_NTASKS_PER_NODE", wantCount, 0)
	}
	if !v.set("SLURM_TASKS_PER_NODE") {
		return world, nil
	}
	runs, err := parseTasksPerNode(v("SLURM_TASKS_PER_NODE"))
	if err != nil {
		return 0, fmt.Errorf("SLURM_TASKS_PER_NODE=%q: %v", v("SLURM_TASKS_PER_NODE"), err)
	}
	if !v.set("SLURM_NODEID") {
		for _, r := range runs[1:] {
			if r.tasks != runs[0].tasks {
				return 0, fmt.Errorf("SLURM_TASKS_PER_NODE=%q differs between nodes, and SLURM_NODEID is not set to say which is this one", v("SLURM_TASKS_PER_NODE"))
			}
		}
		return runs[0].tasks, nil
	}
	node, err := v.optional("SLURM_NODEID", wantIndex, 0)
	if err != nil {
		return 0, err
	}
	for i := node; ; {
		if len(runs) == 0 {
			return 0, fmt.Errorf("SLURM_NODEID=%d is past the last node of SLURM_TASKS_PER_NODE=%q", node, v("SLURM_TASKS_PER_NODE"))
		}
		if i < runs[0].nodes {
			return runs[0].tasks, nil
		}
		i -= runs[0].nodes
		runs = runs[1:]
	}
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
	if err := v.master(&e, "OMPI_COMM_WORLD_SIZE", "", 0); err != nil {
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
// set, else host and port (a launcher's own answer; "" and 0 for none).
// Several processes need both; one alone needs neither.
func (v envVars) master(e *Env, size, host string, port int) error {
	e.MasterAddr, e.MasterPort = host, port
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
		e.MasterPort = p
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

// FirstHost is the first host of a Slurm host list: "node01" of
// "node[01-04,07],gpu5". A list is hosts separated by commas outside
// brackets; a host may hold several bracketed sets of numbers and ranges
// ("rack[1-2]-n[3,5]"), whose numbers keep their zero padding. The whole
// list is checked, so a malformed list is an error even past its first host.
func FirstHost(list string) (string, error) {
	if list == "" {
		return "", errors.New("the host list is empty")
	}
	var firstHost, cur strings.Builder
	hosts := 0
	end := func(at int) error {
		if cur.Len() == 0 {
			return fmt.Errorf("an empty host name at byte %d", at)
		}
		if hosts == 0 {
			firstHost.WriteString(cur.String())
		}
		hosts++
		cur.Reset()
		return nil
	}
	for i := 0; i < len(list); i++ {
		switch c := list[i]; c {
		case ',':
			if err := end(i); err != nil {
				return "", err
			}
		case '[':
			j := strings.IndexAny(list[i+1:], "[]")
			if j < 0 || list[i+1+j] == '[' {
				return "", fmt.Errorf("the \"[\" at byte %d has no \"]\"", i)
			}
			lo, err := firstInSet(list[i+1 : i+1+j])
			if err != nil {
				return "", fmt.Errorf("%q: %v", list[i:i+2+j], err)
			}
			cur.WriteString(lo)
			i += 1 + j
		case ']':
			return "", fmt.Errorf("the \"]\" at byte %d has no \"[\"", i)
		case ' ', '\t', '\n':
			return "", fmt.Errorf("a space at byte %d", i)
		default:
			cur.WriteByte(c)
		}
	}
	if err := end(len(list)); err != nil {
		return "", err
	}
	return firstHost.String(), nil
}

// firstInSet checks the inside of a host list's brackets, numbers and
// ranges separated by commas ("01-04,07"), and returns its first number as
// written.
func firstInSet(set string) (string, error) {
	var first string
	for i, item := range strings.Split(set, ",") {
		lo, hi, isRange := strings.Cut(item, "-")
		if !isRange {
			hi = lo
		}
		a, errA := strconv.ParseUint(lo, 10, 64)
		b, errB := strconv.ParseUint(hi, 10, 64)
		switch {
		case errA != nil || errB != nil:
			return "", fmt.Errorf("%q is not a number or a range of numbers (07, 01-04)", item)
		case a > b:
			return "", fmt.Errorf("the range %q runs backwards", item)
		}
		if i == 0 {
			first = lo
		}
	}
	return first, nil
}

// nodeTasks is a run of Slurm's tasks per node: tasks on each of nodes nodes.
type nodeTasks struct{ tasks, nodes int }

// parseTasksPerNode reads Slurm's tasks per node, "4(x2),3": 4 tasks on
// each of the first two nodes of the node list, 3 on the third.
func parseTasksPerNode(s string) ([]nodeTasks, error) {
	var runs []nodeTasks
	for item := range strings.SplitSeq(s, ",") {
		n, times := item, "1"
		if head, rep, ok := strings.Cut(item, "(x"); ok {
			n, times = head, ""
			if r, ok := strings.CutSuffix(rep, ")"); ok {
				times = r
			}
		}
		c, errC := strconv.Atoi(n)
		t, errT := strconv.Atoi(times)
		if errC != nil || errT != nil || c < 1 || t < 1 {
			return nil, fmt.Errorf("%q is not a task count or a count repeated over nodes (4, 4(x2))", item)
		}
		runs = append(runs, nodeTasks{c, t})
	}
	return runs, nil
}
