// baton launch: this binary's ranks on this host with torchrun's variables, their output prefixed line by line, all stopped when one fails.

package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"baton/runtime/dist"
)

type launchFlags struct {
	nproc, nnodes, nodeRank int
	master, redirects       string
	grace                   time.Duration
}

func launchCmd() *cobra.Command {
	var f launchFlags
	cmd := &cobra.Command{
		Use:   "launch [flags] -- command [flags]",
		Short: "Run a baton command as several ranks, with torchrun's environment, and stop them all when one fails",
		Long: `launch starts --nproc-per-node ranks of this baton binary on this host, each
running the command after --, with torchrun's variables set (RANK, WORLD_SIZE,
LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT). Every line a rank
writes is prefixed with [rank R]. When a rank fails, the others get SIGTERM,
and SIGKILL after --grace; launch exits with the failing rank's status
(128+signal for one a signal killed). SIGINT, SIGTERM and SIGHUP sent to
launch are passed on to every rank, which finishes its step and saves. A
launch killed outright (SIGKILL) passes nothing on: each rank sees it gone
within a second, then finishes its step and saves as on SIGTERM; what it
prints then went through launch and is lost (--redirects keeps it), but
summary.json says where the run stopped.`,
		Example: `  baton launch --nproc-per-node 4 -- train
  # two hosts, four ranks each: the same line on both, --node-rank 0 on host0, 1 on host1
  baton launch --nproc-per-node 4 --nnodes 2 --node-rank 0 --master host0:29500 -- train`,
		RunE: func(cmd *cobra.Command, args []string) error { return runLaunch(cmd, &f, args) },
	}
	fl := cmd.Flags()
	// The command's own flags follow it; launch must not read them.
	fl.SetInterspersed(false)
	fl.IntVar(&f.nproc, "nproc-per-node", 1, "ranks to start on this host")
	fl.IntVar(&f.nnodes, "nnodes", 1, "hosts in the run, each running baton launch with the same flags but --node-rank")
	fl.IntVar(&f.nodeRank, "node-rank", 0, "this host's index, 0 to --nnodes-1: its ranks are node-rank·nproc-per-node onwards")
	fl.StringVar(&f.master, "master", "", "HOST:PORT where rank 0 listens, reachable from every host (default with --nnodes 1: 127.0.0.1 and a free port)")
	fl.StringVar(&f.redirects, "redirects", "", "write rank R's output to rankR.stdout and rankR.stderr in this directory (appended), not to launch's")
	fl.DurationVar(&f.grace, "grace", 10*time.Second, "how long the ranks still running have to exit, once one has failed or ended after Ctrl-C, before SIGKILL")
	return cmd
}

// check refuses bad flags, each error naming its flag, and returns where
// rank 0 listens: port 0 for one to be found on this host.
//
// A --nproc-per-node past maxLocalRanks is refused before any rank starts:
// a slip of the keyboard (100000) once started processes until the host
// stalled.
func (f *launchFlags) check(args []string) (host string, port int, err error) {
	switch {
	case len(args) == 0:
		return "", 0, errors.New("nothing to run: give a baton command after --, e.g. baton launch --nproc-per-node 2 -- train")
	case args[0] != "train" && args[0] != "launch-probe": // its tests' stand-in rank
		// Any other command would run once per rank, each alone: plan and
		// sample would print twice, tokenize and bench race for one --out.
		return "", 0, fmt.Errorf("launch runs train as ranks; %q runs in one process: drop launch and run baton %s", args[0], args[0])
	case f.nproc < 1:
		return "", 0, fmt.Errorf("--nproc-per-node %d: want 1 or more ranks on this host", f.nproc)
	case f.nproc > maxLocalRanks():
		return "", 0, fmt.Errorf("--nproc-per-node %d: more ranks than this host runs (at most %d: 4 per CPU, and 8 at least); each rank is a process that trains its own stages", f.nproc, maxLocalRanks())
	case f.nnodes < 1:
		return "", 0, fmt.Errorf("--nnodes %d: want 1 or more hosts", f.nnodes)
	case f.nodeRank < 0 || f.nodeRank >= f.nnodes:
		return "", 0, fmt.Errorf("--node-rank %d is not in 0..%d (--nnodes %d)", f.nodeRank, f.nnodes-1, f.nnodes)
	case f.grace < 0:
		return "", 0, fmt.Errorf("--grace %v: want 0 or more", f.grace)
	case f.master == "" && f.nnodes > 1:
		return "", 0, fmt.Errorf("--nnodes %d needs --master HOST:PORT: where rank 0 (on --node-rank 0) listens, the same on every host", f.nnodes)
	case f.master == "":
		return "127.0.0.1", 0, nil
	}
	host, p, err := net.SplitHostPort(f.master)
	if err != nil || host == "" {
		return "", 0, fmt.Errorf("--master %q: want HOST:PORT, e.g. host0:29500", f.master)
	}
	if port, err = dist.ParsePort(p); err != nil {
		return "", 0, fmt.Errorf("--master %q: port %v", f.master, err)
	}
	return host, port, nil
}

// freePort is a port free on this host now: rank 0 listens on it soon
// after, and one host has no one else to agree the port with.
func freePort() (int, error) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port for rank 0: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// rankExit is how one rank ended.
type rankExit struct {
	local, rank int            // its index on this host, and in the run
	code        int            // 128+signal for a rank a signal killed
	sig         syscall.Signal // the signal that killed it, or 0
}

// lostRankStatus is the exit status of a rank that stopped because it lost
// another rank or its link to one: not where a failure began.
const lostRankStatus = 3

func (e rankExit) String() string {
	if e.sig != 0 {
		return fmt.Sprintf("rank %d was killed by signal %d (%v), status %d", e.rank, int(e.sig), e.sig, e.code)
	}
	return fmt.Sprintf("rank %d exited with status %d", e.rank, e.code)
}

// interrupted reports whether the rank exited as train does on a stop
// signal (128 + SIGINT, SIGTERM or SIGHUP), its checkpoint saved: the
// other ranks stop at the same step by themselves, and a SIGTERM from
// launch would be a second signal to any of them signalled too, which
// ends it at once, before its report.
func (e rankExit) interrupted() bool {
	if e.sig != 0 {
		return false
	}
	return slices.ContainsFunc(stopSignals, func(s os.Signal) bool { return exitCode(s) == e.code })
}

// exitOf reads how rank ended from its process state.
func exitOf(local, rank int, ps *os.ProcessState) rankExit {
	e := rankExit{local: local, rank: rank, code: ps.ExitCode()}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.sig = ws.Signal()
		e.code = exitCode(e.sig)
	}
	return e
}

func runLaunch(cmd *cobra.Command, f *launchFlags, args []string) error {
	host, port, err := f.check(args)
	if err != nil {
		return usage(err)
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("launch: finding this binary: %w", err)
	}
	if f.redirects != "" {
		if err := os.MkdirAll(f.redirects, 0o755); err != nil {
			return fmt.Errorf("--redirects: %w", err)
		}
	}
	// As in train: a closed terminal or pipe must not kill launch while its
	// ranks still run and save.
	signal.Ignore(syscall.SIGPIPE)
	// Listening before the first rank starts: a signal that comes while
	// they start is passed on once they have.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, stopSignals...)
	defer signal.Stop(sigs)

	stdout := &lines{w: cmd.OutOrStdout()}
	stderr := &lines{w: cmd.ErrOrStderr()}
	exits := make(chan rankExit, f.nproc)
	var procs []*os.Process
	for i := range f.nproc {
		rank := f.nodeRank*f.nproc + i
		c := exec.Command(exe, args...)
		c.Env = append(os.Environ(),
			"RANK="+strconv.Itoa(rank), "WORLD_SIZE="+strconv.Itoa(f.nnodes*f.nproc),
			"LOCAL_RANK="+strconv.Itoa(i), "LOCAL_WORLD_SIZE="+strconv.Itoa(f.nproc),
			"MASTER_ADDR="+host, "MASTER_PORT="+strconv.Itoa(port),
			launchPIDEnv+"="+strconv.Itoa(os.Getpid()))
		ownGroup(c)
		// A process a rank started and left running keeps its pipes open;
		// launch reports the rank's end without waiting on it.
		c.WaitDelay = 5 * time.Second
		done, err := f.output(c, rank, stdout, stderr)
		if err == nil {
			err = c.Start()
		}
		if err != nil {
			done()
			for _, p := range procs {
				p.Kill()
			}
			for range procs {
				<-exits
			}
			return fmt.Errorf("launch: starting rank %d: %w", rank, err)
		}
		procs = append(procs, c.Process)
		go func() {
			c.Wait()
			done()
			exits <- exitOf(i, rank, c.ProcessState)
		}()
	}
	return supervise(procs, f.nodeRank*f.nproc, exits, sigs, f.grace, f.redirects)
}

// supervise waits for every rank; procs[i] is rank first+i. The first to
// fail has the others sent SIGTERM, unless launch was signalled or the rank
// was (rankExit.interrupted): then the ranks are stopping already, and the
// slowest saves the longest. Each
// signal to launch goes on to every rank still running. Once a rank of a
// failed or signalled run has ended (the run's checkpoint is then complete
// or abandoned), or launch is signalled twice, the ranks still running have
// grace to end before SIGKILL: a rank that cannot end (stopped, hung) must
// not keep launch waiting. A second signal within sameStop of the first is
// the same stop, delivered twice. The error is the first failure's, with its
// status, or that of a rank a signal killed (not launch's) or that failed
// on its own (not lostRankStatus): the failure's cause, where the ranks
// that lost it were reaped first.
func supervise(procs []*os.Process, first int, exits <-chan rankExit, sigs <-chan os.Signal, grace time.Duration, redirects string) error {
	running := map[int]*os.Process{}
	for i, p := range procs {
		running[i] = p
	}
	signalAll := func(s os.Signal) {
		for _, p := range running {
			signalRank(p, s)
		}
	}
	var failed *rankExit
	var signalled, termed bool
	var got os.Signal   // the first signal launch passed on
	var gotAt time.Time // when it came
	var fault *rankExit // the first rank after the first to end neither well nor as a stop signal says
	var kill <-chan time.Time
	var killed []string
	for len(running) > 0 {
		select {
		case e := <-exits:
			delete(running, e.local)
			if fault == nil && failed != nil && e.code != 0 && !e.interrupted() && !(e.sig == syscall.SIGKILL && len(killed) > 0) {
				fault = &e // not one launch killed past --grace
			}
			switch {
			case e.code != 0 && failed == nil:
				failed = &e
				if !signalled && !e.interrupted() {
					signalAll(syscall.SIGTERM)
					termed = true
				}
			case failed != nil && failed.sig == 0 && e.sig != 0 && !signalled && len(killed) == 0 && !(termed && e.sig == syscall.SIGTERM):
				// A rank killed by a signal not launch's is where the failure
				// began, though a rank that lost it may be reaped first.
				failed = &e
			case failed != nil && failed.code == lostRankStatus && e.sig == 0 && e.code != 0 && e.code != lostRankStatus && !e.interrupted():
				// So is a rank that failed on its own, where the first
				// reaped only lost it.
				failed = &e
			}
			if kill == nil && (failed != nil || signalled) {
				kill = time.After(grace)
			}
		case s := <-sigs:
			if signalled && time.Since(gotAt) < sameStop {
				continue // the same stop delivered twice (timeout(1) signals launch, then its group)
			}
			if signalled && kill == nil {
				kill = time.After(grace)
			}
			if !signalled {
				got, gotAt = s, time.Now()
			}
			signalled = true
			signalAll(s)
		case <-kill:
			for i := range procs {
				if p, ok := running[i]; ok {
					killed = append(killed, strconv.Itoa(first+i))
					signalRank(p, syscall.SIGKILL)
				}
			}
		}
	}
	if failed == nil {
		return nil
	}
	if signalled && failed.interrupted() && fault != nil {
		failed = fault // a rank the signal stopped ended first, but another failed
	}
	msg := failed.String()
	if failed == fault && signalled {
		msg += fmt.Sprintf(", after %s", sigName(got))
	}
	if redirects != "" {
		msg += " (its output: " + filepath.Join(redirects, fmt.Sprintf("rank%d.stderr", failed.rank)) + ")"
	}
	switch {
	case signalled && failed.interrupted() && len(killed) == 0:
		// The user stopped the run through launch: no rank failed.
		where := "says above"
		if redirects != "" {
			where = "says in " + filepath.Join(redirects, "rankR.stderr")
		}
		msg = fmt.Sprintf("interrupted by %s: the ranks stopped together (rank %d exited first, status %d); each %s what it saved", sigName(got), failed.rank, failed.code, where)
	case len(killed) > 0 && failed.code == lostRankStatus && !signalled:
		// The rank reaped only lost another; one that would not end
		// even when told to is where the failure began: it hung.
		msg = fmt.Sprintf("rank %s hung: still running --grace %v after %s (it lost a rank) and the others were told to stop; killed", strings.Join(killed, ", "), grace, msg)
	case len(killed) > 0:
		msg += fmt.Sprintf("; killed rank %s, still running --grace %v after being told to stop", strings.Join(killed, ", "), grace)
	}
	return interrupted{failed.code, msg}
}

// signalRank sends s to a rank. Where signals other than kill cannot be
// sent (Windows), it kills.
func signalRank(p *os.Process, s os.Signal) {
	if err := p.Signal(s); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.Kill()
	}
}

// output sends a rank's stdout and stderr to launch's, a whole line at a
// time after "[rank R] ", or with --redirects to files of its own. done
// writes what is left once the rank has ended, and closes the files.
func (f *launchFlags) output(c *exec.Cmd, rank int, stdout, stderr *lines) (done func(), err error) {
	if f.redirects == "" {
		prefix := fmt.Sprintf("[rank %d] ", rank)
		o, e := newPrefixed(stdout, prefix), newPrefixed(stderr, prefix)
		c.Stdout, c.Stderr = o, e
		return func() { o.flush(); e.flush() }, nil
	}
	var files []*os.File
	done = func() {
		for _, fh := range files {
			fh.Close()
		}
	}
	for _, name := range []string{"stdout", "stderr"} {
		// Appended: a resumed run's log follows the one before it.
		fh, err := os.OpenFile(filepath.Join(f.redirects, fmt.Sprintf("rank%d.%s", rank, name)), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return done, fmt.Errorf("--redirects: %w", err)
		}
		files = append(files, fh)
	}
	c.Stdout, c.Stderr = files[0], files[1]
	return done, nil
}

// launchProbeCmd is launch's tests' rank, hidden from help: it prints the
// place dist.EnvFrom reads from what launch set, then fails, or waits for
// signals, as asked.
func launchProbeCmd() *cobra.Command {
	var failRank, failCode, lostRank int
	var hang, ignoreTerm bool
	cmd := &cobra.Command{
		Use:    "launch-probe",
		Hidden: true,
		Args:   noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := dist.EnvFrom(os.Getenv)
			if err != nil {
				return err
			}
			sigs := make(chan os.Signal, 4)
			signal.Notify(sigs, os.Interrupt)
			if ignoreTerm {
				signal.Ignore(syscall.SIGTERM)
			} else {
				signal.Notify(sigs, syscall.SIGTERM)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "rank=%d world=%d local=%d/%d master=%s:%d source=%s\n",
				env.Rank, env.WorldSize, env.LocalRank, env.LocalWorldSize, env.MasterAddr, env.MasterPort, env.Source)
			// A long line in pieces, which launch must print whole.
			for i := range 4 {
				fmt.Fprintf(out, "piece%d-%s", i, strings.Repeat("x", 2000))
			}
			fmt.Fprintln(out)
			fmt.Fprintf(cmd.ErrOrStderr(), "ready pid=%d\n", os.Getpid())
			switch {
			case env.Rank == lostRank:
				time.Sleep(time.Second) // the other ranks are ready
				os.Exit(lostRankStatus)
			case env.Rank == failRank && lostRank >= 0:
				time.Sleep(1500 * time.Millisecond) // reaped after lostRank
				os.Exit(failCode)
			case env.Rank == failRank:
				os.Exit(failCode)
			}
			if hang {
				// Every signal is told; the first ends the probe after a
				// pause in which a second would be seen too. A probe a
				// failed test left behind ends on its own.
				var s os.Signal
				select {
				case s = <-sigs:
				case <-time.After(30 * time.Second):
					return errors.New("launch-probe: no signal came")
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "got %v\n", s)
				for end := time.After(300 * time.Millisecond); ; {
					select {
					case s := <-sigs:
						fmt.Fprintf(cmd.ErrOrStderr(), "got %v\n", s)
					case <-end:
						os.Exit(exitCode(s))
					}
				}
			}
			fmt.Fprint(out, "unterminated")
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&failRank, "fail-rank", -1, "the rank that exits with --fail-code")
	fl.IntVar(&failCode, "fail-code", 1, "--fail-rank's exit status")
	fl.IntVar(&lostRank, "lost-rank", -1, "the rank that exits after a second as a rank that lost another does; --fail-rank then fails at 1.5 s")
	fl.BoolVar(&hang, "hang", false, "wait for SIGINT or SIGTERM (30s at most), then exit 128+signal")
	fl.BoolVar(&ignoreTerm, "ignore-term", false, "ignore SIGTERM")
	return cmd
}

// maxLocalRanks is the most ranks launch starts on this host: 4 per CPU,
// at least 8, past any GPU host's count and any useful count of CPU ranks.
func maxLocalRanks() int { return max(8, 4*goruntime.NumCPU()) }
