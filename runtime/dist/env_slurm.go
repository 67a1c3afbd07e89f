// Slurm's environment: srun's task variables, its per-node task counts, and the first host of a compressed host list.

package dist

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// slurmPortBase is where the port a Slurm job derives from its id starts
// when MASTER_PORT is not set: 20000 + SLURM_JOB_ID mod 20000. Every task
// of the job computes the same port with no exchange, above the common
// services and below Linux's ephemeral range (32768-60999), and two jobs
// sharing a node get different ports unless their ids are 20000 apart.
const slurmPortBase = 20000

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
	host, port, portFrom := "", 0, ""
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
		port, portFrom = slurmPortBase+id%20000, fmt.Sprintf("%d + SLURM_JOB_ID mod 20000", slurmPortBase)
	}
	if err := v.master(&e, "SLURM_NTASKS", host, port, portFrom); err != nil {
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
