// EnvFrom and FirstHost: every launcher's variables, their precedence, Slurm's host lists and task counts, and every error's words.

package dist

import (
	"strings"
	"testing"
)

// getenv serves "NAME=value" pairs as os.Getenv would.
func getenv(pairs ...string) func(string) string {
	m := map[string]string{}
	for _, p := range pairs {
		k, v, _ := strings.Cut(p, "=")
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

var torchrun4 = []string{"RANK=5", "WORLD_SIZE=8", "LOCAL_RANK=1", "LOCAL_WORLD_SIZE=4", "MASTER_ADDR=host0", "MASTER_PORT=29500"}

var srun = []string{"SLURM_PROCID=5", "SLURM_NTASKS=11", "SLURM_LOCALID=1", "SLURM_NODEID=2",
	"SLURM_TASKS_PER_NODE=4(x2),3", "SLURM_JOB_NODELIST=gpu[07-09]", "SLURM_JOB_ID=123456"}

var mpirun = []string{"OMPI_COMM_WORLD_RANK=3", "OMPI_COMM_WORLD_SIZE=4", "OMPI_COMM_WORLD_LOCAL_RANK=1",
	"OMPI_COMM_WORLD_LOCAL_SIZE=2", "MASTER_ADDR=10.0.0.1", "MASTER_PORT=29500"}

func with(base []string, more ...string) []string {
	return append(append([]string{}, base...), more...)
}

// slurmJobPort is PortFrom where the port is Slurm's job id's.
const slurmJobPort = "20000 + SLURM_JOB_ID mod 20000"

func TestEnvFrom(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
		want Env
	}{
		{"nothing: one process", nil, Env{Rank: 0, WorldSize: 1, LocalWorldSize: 1}},
		{"torchrun", torchrun4, Env{5, 8, 1, 4, "host0", 29500, "torchrun", "MASTER_PORT"}},
		{"torchrun, no local pair: all on this host", []string{"RANK=1", "WORLD_SIZE=2", "MASTER_ADDR=::1", "MASTER_PORT=1"},
			Env{1, 2, 1, 2, "::1", 1, "torchrun", "MASTER_PORT"}},
		{"torchrun, one process needs no master", []string{"RANK=0", "WORLD_SIZE=1"}, Env{0, 1, 0, 1, "", 0, "torchrun", ""}},
		{"torchrun, spaces around numbers", []string{"RANK= 0", "WORLD_SIZE=1 ", "MASTER_ADDR= h ", "MASTER_PORT= 80"},
			Env{0, 1, 0, 1, "h", 80, "torchrun", "MASTER_PORT"}},
		{"torchrun before slurm and mpi", with(srun, with(mpirun, torchrun4...)...), Env{5, 8, 1, 4, "host0", 29500, "torchrun", "MASTER_PORT"}},
		{"slurm: this node's count of 4(x2),3, first host, port from the job id", srun,
			Env{5, 11, 1, 3, "gpu07", 20000 + 123456%20000, "slurm", slurmJobPort}},
		{"slurm before mpi", with(srun, mpirun...), Env{5, 11, 1, 3, "10.0.0.1", 29500, "slurm", "MASTER_PORT"}},
		{"slurm: MASTER_ADDR and MASTER_PORT win", with(srun, "MASTER_ADDR=login1", "MASTER_PORT=30000"),
			Env{5, 11, 1, 3, "login1", 30000, "slurm", "MASTER_PORT"}},
		{"slurm: the step's node list before the job's", with(srun, "SLURM_STEP_NODELIST=a[3-4],b1"),
			Env{5, 11, 1, 3, "a3", 23456, "slurm", slurmJobPort}},
		{"slurm: the old SLURM_NODELIST", []string{"SLURM_PROCID=0", "SLURM_NTASKS=2", "SLURM_NODELIST=n1,n2", "SLURM_JOB_ID=40000"},
			Env{0, 2, 0, 2, "n1", 20000, "slurm", slurmJobPort}},
		{"slurm: SLURM_NTASKS_PER_NODE before SLURM_TASKS_PER_NODE", with(srun, "SLURM_NTASKS_PER_NODE=4"),
			Env{5, 11, 1, 4, "gpu07", 23456, "slurm", slurmJobPort}},
		{"slurm: one count for every node, no node id", []string{"SLURM_PROCID=3", "SLURM_NTASKS=4", "SLURM_LOCALID=1",
			"SLURM_TASKS_PER_NODE=2(x2)", "SLURM_JOB_NODELIST=n[1-2]", "SLURM_JOB_ID=7"}, Env{3, 4, 1, 2, "n1", 20007, "slurm", slurmJobPort}},
		{"slurm: one task needs no node list or job id", []string{"SLURM_PROCID=0", "SLURM_NTASKS=1"}, Env{0, 1, 0, 1, "", 0, "slurm", ""}},
		{"mpirun", mpirun, Env{3, 4, 1, 2, "10.0.0.1", 29500, "openmpi", "MASTER_PORT"}},
		{"mpirun, one process needs no master", []string{"OMPI_COMM_WORLD_RANK=0", "OMPI_COMM_WORLD_SIZE=1"}, Env{0, 1, 0, 1, "", 0, "openmpi", ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := EnvFrom(getenv(c.env...))
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestEnvFromErrors(t *testing.T) {
	for _, c := range []struct {
		env  []string
		want string
	}{
		// torchrun
		{[]string{"RANK=0"}, "WORLD_SIZE is not set (torchrun sets it with RANK)"},
		{[]string{"WORLD_SIZE=2"}, "RANK is not set (torchrun sets it with WORLD_SIZE)"},
		{with(torchrun4, "RANK=x"), `RANK="x" is not a rank (0 or more)`},
		{with(torchrun4, "RANK=-1"), "RANK=-1 is not a rank (0 or more)"},
		{with(torchrun4, "WORLD_SIZE=0"), "WORLD_SIZE=0 is not a count (1 or more)"},
		{with(torchrun4, "WORLD_SIZE=two"), `WORLD_SIZE="two" is not a count (1 or more)`},
		{[]string{"RANK=3", "WORLD_SIZE=2"}, "RANK=3 is not below WORLD_SIZE=2"},
		{with(torchrun4, "LOCAL_RANK=4"), "LOCAL_RANK=4 is not below LOCAL_WORLD_SIZE=4"},
		{[]string{"RANK=5", "WORLD_SIZE=8", "LOCAL_WORLD_SIZE=4", "MASTER_ADDR=h", "MASTER_PORT=1"}, "LOCAL_RANK is not set, so it is RANK=5, which is not below LOCAL_WORLD_SIZE=4; set LOCAL_RANK for each process (its index on its host)"},
		{with(torchrun4, "LOCAL_RANK=1.5"), `LOCAL_RANK="1.5" is not a rank (0 or more)`},
		{with(torchrun4, "LOCAL_WORLD_SIZE=9"), "LOCAL_WORLD_SIZE=9 is more than WORLD_SIZE=8"},
		{with(torchrun4, "LOCAL_WORLD_SIZE=0"), "LOCAL_WORLD_SIZE=0 is not a count (1 or more)"},
		{with(torchrun4, "MASTER_ADDR="), "MASTER_ADDR is not set, and WORLD_SIZE=8 processes need rank 0's host (torchrun and baton launch set it; by hand: MASTER_ADDR=host0 MASTER_PORT=29500)"},
		{with(torchrun4, "MASTER_PORT="), "MASTER_PORT is not set, and WORLD_SIZE=8 processes need the port rank 0 listens on (torchrun and baton launch set it; by hand: MASTER_PORT=29500)"},
		{with(torchrun4, "MASTER_PORT=abc"), `MASTER_PORT="abc" is not a port (1-65535)`},
		{with(torchrun4, "MASTER_PORT=0"), `MASTER_PORT="0" is not a port (1-65535)`},
		{with(torchrun4, "MASTER_PORT=65536"), `MASTER_PORT="65536" is not a port (1-65535)`},
		{[]string{"RANK=0", "WORLD_SIZE=1", "MASTER_PORT=-5"}, `MASTER_PORT="-5" is not a port (1-65535)`},
		// Slurm
		{[]string{"SLURM_PROCID=0"}, "SLURM_NTASKS is not set (srun sets it; give sbatch or srun a task count (-n))"},
		{with(srun, "SLURM_PROCID=x"), `SLURM_PROCID="x" is not a rank (0 or more)`},
		{with(srun, "SLURM_PROCID=11"), "SLURM_PROCID=11 is not below SLURM_NTASKS=11"},
		{with(srun, "SLURM_NTASKS=0"), "SLURM_NTASKS=0 is not a count (1 or more)"},
		{with(srun, "SLURM_LOCALID=3"), "SLURM_LOCALID=3 is not below SLURM_TASKS_PER_NODE=3"},
		{with(srun, "SLURM_NTASKS_PER_NODE=1"), "SLURM_LOCALID=1 is not below SLURM_NTASKS_PER_NODE=1"},
		{with(srun, "SLURM_NTASKS_PER_NODE=12"), "SLURM_NTASKS_PER_NODE=12 is more than SLURM_NTASKS=11"},
		{with(srun, "SLURM_NTASKS_PER_NODE=x"), `SLURM_NTASKS_PER_NODE="x" is not a count (1 or more)`},
		{with(srun, "SLURM_TASKS_PER_NODE=4(x2"), `SLURM_TASKS_PER_NODE="4(x2": "4(x2" is not a task count or a count repeated over nodes (4, 4(x2))`},
		{with(srun, "SLURM_TASKS_PER_NODE=4,,3"), `SLURM_TASKS_PER_NODE="4,,3": "" is not a task count or a count repeated over nodes (4, 4(x2))`},
		{with(srun, "SLURM_TASKS_PER_NODE=4(x0)"), `SLURM_TASKS_PER_NODE="4(x0)": "4(x0)" is not a task count or a count repeated over nodes (4, 4(x2))`},
		{with(srun, "SLURM_NODEID=3"), `SLURM_NODEID=3 is past the last node of SLURM_TASKS_PER_NODE="4(x2),3"`},
		{with(srun, "SLURM_NODEID=-1"), "SLURM_NODEID=-1 is not an index (0 or more)"},
		{with(srun, "SLURM_NODEID="), `SLURM_TASKS_PER_NODE="4(x2),3" differs between nodes, and SLURM_NODEID is not set to say which is this one`},
		{with(srun, "SLURM_JOB_NODELIST="), "SLURM_JOB_NODELIST is not set, and SLURM_NTASKS=11 needs rank 0's host: run under srun, or set MASTER_ADDR"},
		{with(srun, "SLURM_JOB_NODELIST=gpu[07-"), `SLURM_JOB_NODELIST="gpu[07-": the "[" at byte 3 has no "]"`},
		{with(srun, "SLURM_JOB_ID="), "SLURM_JOB_ID is not set, and SLURM_NTASKS=11 needs a port to derive from it: run under srun, or set MASTER_PORT"},
		{with(srun, "SLURM_JOB_ID=j1"), `SLURM_JOB_ID="j1" is not an index (0 or more)`},
		{with(srun, "MASTER_PORT=99999"), `MASTER_PORT="99999" is not a port (1-65535)`},
		// Open MPI
		{[]string{"OMPI_COMM_WORLD_RANK=0"}, "OMPI_COMM_WORLD_SIZE is not set (mpirun sets it)"},
		{with(mpirun, "OMPI_COMM_WORLD_RANK=4"), "OMPI_COMM_WORLD_RANK=4 is not below OMPI_COMM_WORLD_SIZE=4"},
		{with(mpirun, "OMPI_COMM_WORLD_LOCAL_RANK=2"), "OMPI_COMM_WORLD_LOCAL_RANK=2 is not below OMPI_COMM_WORLD_LOCAL_SIZE=2"},
		{with(mpirun, "OMPI_COMM_WORLD_LOCAL_SIZE=8"), "OMPI_COMM_WORLD_LOCAL_SIZE=8 is more than OMPI_COMM_WORLD_SIZE=4"},
		{with(mpirun, "MASTER_ADDR="), "mpirun does not say where rank 0 listens: pass MASTER_ADDR and MASTER_PORT to every process, e.g. mpirun -x MASTER_ADDR=host0 -x MASTER_PORT=29500 …"},
		{with(mpirun, "MASTER_PORT="), "mpirun does not say where rank 0 listens: pass MASTER_ADDR and MASTER_PORT to every process, e.g. mpirun -x MASTER_ADDR=host0 -x MASTER_PORT=29500 …"},
		{with(mpirun, "MASTER_PORT=http"), `MASTER_PORT="http" is not a port (1-65535)`},
	} {
		_, err := EnvFrom(getenv(c.env...))
		if err == nil || err.Error() != c.want {
			t.Errorf("%v:\n got %v\nwant %s", c.env, err, c.want)
		}
	}
}

func TestEnvFirstHost(t *testing.T) {
	for _, c := range []struct{ list, want string }{
		{"node01", "node01"},
		{"node[01-04,07],gpu5", "node01"},
		{"gpu5,node[01-04,07]", "gpu5"},
		{"node[007-010]", "node007"},
		{"node[7,3-4]", "node7"},
		{"node[9-10]", "node9"},
		{"rack[2-3]-n[05-06]", "rack2-n05"},
		{"a[1-2]b,c[3]d", "a1b"},
		{"[3-4]", "3"},
		{"n1.cluster.local,n2.cluster.local", "n1.cluster.local"},
	} {
		got, err := FirstHost(c.list)
		if err != nil || got != c.want {
			t.Errorf("FirstHost(%q) = %q, %v; want %q", c.list, got, err, c.want)
		}
	}
}

func TestEnvFirstHostMalformed(t *testing.T) {
	for _, c := range []struct{ list, want string }{
		{"", "the host list is empty"},
		{"node[01-04", `the "[" at byte 4 has no "]"`},
		{"node[01[2]]", `the "[" at byte 4 has no "]"`},
		{"node01]", `the "]" at byte 6 has no "["`},
		{"n1,n[1-2]]", `the "]" at byte 9 has no "["`},
		{"node[]", `"[]": "" is not a number or a range of numbers (07, 01-04)`},
		{"node[1,]", `"[1,]": "" is not a number or a range of numbers (07, 01-04)`},
		{"node[a-3]", `"[a-3]": "a-3" is not a number or a range of numbers (07, 01-04)`},
		{"node[1-2-3]", `"[1-2-3]": "1-2-3" is not a number or a range of numbers (07, 01-04)`},
		{"node[-3]", `"[-3]": "-3" is not a number or a range of numbers (07, 01-04)`},
		{"node[+3]", `"[+3]": "+3" is not a number or a range of numbers (07, 01-04)`},
		{"node[5-3]", `"[5-3]": the range "5-3" runs backwards`},
		{"a,,b", "an empty host name at byte 2"},
		{",a", "an empty host name at byte 0"},
		{"a,", "an empty host name at byte 2"},
		{"a,b[1-2],c[9-1]", `"[9-1]": the range "9-1" runs backwards`},
		{"a b", "a space at byte 1"},
	} {
		got, err := FirstHost(c.list)
		if err == nil || err.Error() != c.want {
			t.Errorf("FirstHost(%q) = %q, %v; want error %q", c.list, got, err, c.want)
		}
	}
}

func TestEnvParsePort(t *testing.T) {
	for s, want := range map[string]int{"1": 1, "29500": 29500, "65535": 65535, " 80 ": 80} {
		if got, err := ParsePort(s); err != nil || got != want {
			t.Errorf("ParsePort(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0", "65536", "-1", "80a", "0x50"} {
		if _, err := ParsePort(s); err == nil {
			t.Errorf("ParsePort(%q): no error", s)
		}
	}
}
