// baton bench: flags → a sweep of devices × schedule × micro-batches → a dated report with CSV and charts.

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"baton/bench"
	"baton/internal/field"
	"baton/internal/fsutil"
	"baton/internal/words"
	"baton/kernels"
	"baton/model"
	"baton/runtime"
	"baton/runtime/device"
	"baton/runtime/schedule"
)

type benchFlags struct {
	modelFlags
	devices, schedules, microbatches string
	precisions, peer, tag            string
	devicesMax, steps, batch, chunks int
	data                             string
	dataLimit                        int64
	out                              string
	quick                            bool
}

func benchCmd() *cobra.Command {
	var f benchFlags
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Sweep devices × schedules × micro-batches and write a dated report with CSV and charts",
		Long: `bench trains each point of devices × schedule × micro-batches for one warm-up
step and --steps measured steps, and writes under --out a Markdown report
named <date>-<machine>.md (its first line is the command that reproduces it),
the CSV behind it, and three charts as SVG and PNG: the naive schedule against
1/p and (p−1)/p, the bubble against micro-batches (measured, simulated,
analytic), and tokens/s and peak memory per device against p.
A point with p devices runs on the first p of --devices.
--peer adds PyTorch's figures from scripts/torch_peer.py (same CSV format)
of the same model beside baton's one-device points; --tag names a sweep so
that several of one machine and day keep their own files. A sweep replaces
the files of an earlier one of the same name, and removes its charts that
it does not draw.`,
		Example: `  baton bench --quick --out /tmp/bench        # under a minute
  baton bench                                  # small model, p = 1, 2, 4, m = 4, 8
  baton bench --devices cuda:0 --devices-max 1 --model gpt2-124m --schedules naive \
      --precision fp32,tf32 --peer peer.csv --tag gpt2   # one GPU beside PyTorch`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBench(cmd, &f) },
	}
	fl := cmd.Flags()
	f.modelFlags.add(fl)
	fl.StringVar(&f.devices, "devices", "", "devices to draw from, first p for a point of p devices (default: cpu:0..devices-max−1)")
	fl.IntVar(&f.devicesMax, "devices-max", 4, "largest p; p runs over 1, 2, 4, … up to it")
	fl.StringVar(&f.schedules, "schedules", "naive,gpipe,1f1b,interleaved,zb-h1", "schedules to sweep: "+strings.Join(schedule.ScheduleNames, ", "))
	fl.StringVar(&f.microbatches, "microbatches", "4,8", "micro-batch counts to sweep (naive always runs 1)")
	fl.StringVar(&f.precisions, "precision", "fp32", "matmul precisions to sweep: fp32, tf32, bf16 (tf32 and bf16 on cuda: devices; cpu: devices skip them)")
	fl.StringVar(&f.peer, "peer", "", "CSV of PyTorch's figures of the same model (scripts/torch_peer.py), beside the one-device points")
	fl.StringVar(&f.tag, "tag", "", "suffix of the report's file names: letters, digits and '-'")
	fl.IntVar(&f.chunks, "chunks", 2, "stages per device of the interleaved schedule")
	fl.IntVar(&f.steps, "steps", 3, "measured steps per point, after one warm-up step")
	fl.IntVar(&f.batch, "batch", 8, "sequences per step")
	fl.StringVar(&f.data, "data", "", "text file, directory of text, or llm.c .bin shards (default: the Go standard library sources)")
	fl.Int64Var(&f.dataLimit, "data-limit", 1<<20, "bytes of text to read at most (0: all of it)")
	fl.StringVar(&f.out, "out", "bench/results", "directory of the report, CSV and charts")
	fl.BoolVar(&f.quick, "quick", false, "a reduced sweep that finishes in under a minute: the tiny model with 8 blocks (T=16, C=32)")
	return cmd
}

// options turns flags into a sweep, or an error naming the flag.
func (f *benchFlags) options(cmd *cobra.Command) (bench.Options, error) {
	quickLayers := false
	if f.quick {
		// The tiny model needs 8 blocks for the interleaved schedule's 2×4
		// stages; explicit flags still win over these.
		set := cmd.Flags().Changed
		if !set("model") {
			f.preset = "tiny"
		}
		if !set("layers") && f.preset == "tiny" {
			f.layers, quickLayers = 8, true
		}
	}
	mc, name, err := f.model()
	if err != nil {
		return bench.Options{}, err
	}
	if quickLayers && name == "custom" {
		name = "tiny (L=8)"
	}
	ms, err := model.ParseInts("microbatches", f.microbatches)
	if err != nil {
		return bench.Options{}, err
	}
	if f.devicesMax < 1 {
		return bench.Options{}, fmt.Errorf("--devices-max is %d; it must be at least 1", f.devicesMax)
	}
	if f.steps < 1 {
		return bench.Options{}, fmt.Errorf("--steps is %d; it must be at least 1", f.steps)
	}
	if f.steps >= runtime.MaxSteps { // a point trains one warm-up step besides, which train would count
		return bench.Options{}, fmt.Errorf("--steps is %d; give at most %d: each point trains one warm-up step besides, and a run at most %d steps", f.steps, runtime.MaxSteps-1, runtime.MaxSteps)
	}
	if f.batch < 1 {
		return bench.Options{}, fmt.Errorf("--batch is %d; it must be at least 1", f.batch)
	}
	if f.chunks < 1 {
		return bench.Options{}, fmt.Errorf("--chunks is %d; it must be at least 1 (stages per device of the interleaved schedule)", f.chunks)
	}
	if f.dataLimit < 0 {
		return bench.Options{}, fmt.Errorf("--data-limit is %d; give a number of bytes, or 0 for no limit", f.dataLimit)
	}
	list := f.devices
	if list == "" {
		list = fmt.Sprintf("cpu:0..%d", f.devicesMax-1)
	}
	devs, err := device.Expand(list)
	if err != nil {
		return bench.Options{}, err
	}
	var ps []int
	for p := 1; p <= f.devicesMax; p *= 2 {
		ps = append(ps, p)
	}
	scheds := strings.Split(f.schedules, ",")
	for i, s := range scheds {
		if !slices.Contains(schedule.ScheduleNames, s) {
			return bench.Options{}, fmt.Errorf("--schedules: unknown schedule %q; choose from %s", s, strings.Join(schedule.ScheduleNames, ", "))
		}
		if slices.Contains(scheds[:i], s) {
			return bench.Options{}, fmt.Errorf("--schedules lists %s twice; a sweep runs each point once: give it once", s)
		}
	}
	if len(ms) == 0 {
		return bench.Options{}, fmt.Errorf("--microbatches is empty; give the micro-batch counts to sweep, such as 4,8")
	}
	for i, m := range ms {
		if m < 1 {
			return bench.Options{}, fmt.Errorf("--microbatches has %d; give counts of micro-batches, each at least 1", m)
		}
		if slices.Contains(ms[:i], m) {
			return bench.Options{}, fmt.Errorf("--microbatches lists %d twice; a sweep runs each point once: give it once", m)
		}
		if f.batch%m != 0 {
			return bench.Options{}, fmt.Errorf("--microbatches %d does not divide --batch %d", m, f.batch)
		}
	}
	var precs []kernels.Precision
	for _, s := range strings.Split(f.precisions, ",") {
		p, err := parsePrecision(s)
		if err != nil {
			return bench.Options{}, err
		}
		precs = append(precs, p)
	}
	if onCPU := devs[0].Kind == device.KindCPU; onCPU && !slices.Contains(precs, kernels.FP32) {
		// Every point would be skipped, and the sweep would replace an
		// earlier report with an empty one.
		return bench.Options{}, fmt.Errorf("--precision %s: cpu: devices compute in fp32 only; add fp32, or sweep cuda: --devices", f.precisions)
	}
	if strings.Trim(f.tag, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != "" {
		return bench.Options{}, fmt.Errorf("--tag %q: use letters, digits and '-' only (it becomes part of file names)", f.tag)
	}
	return bench.Options{Preset: name, Model: mc, Devices: devs, Ps: ps, Schedules: scheds, Microbatches: ms, Precisions: precs, Chunks: f.chunks,
		Batch: f.batch, Steps: f.steps, Data: f.data, DataLimit: f.dataLimit, Seed: 1, Command: f.command(cmd),
		Words: func(err error) string { return field.Render(err, benchFlagName) }}, nil
}

// benchFlagName names a field of a point's training as bench's flags set
// it: a point's devices are the first p of the sweep's, p up to
// --devices-max.
func benchFlagName(f string) string {
	if f == "devices" {
		return "--devices-max"
	}
	return flagName(f)
}

// command is the command line that reproduces the sweep: every flag given,
// with the build tag of this binary, as a shell reads it back: a bool given
// false as --name=false (--name alone is true), a value the shell would
// split or expand in quotes.
func (f *benchFlags) command(cmd *cobra.Command) string {
	parts := []string{"go run ./cmd/baton bench"}
	if device.Available(device.KindCUDA) {
		parts[0] = "go run -tags cuda ./cmd/baton bench"
	}
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		switch {
		case fl.Value.Type() == "bool" && fl.Value.String() == "true":
			parts = append(parts, "--"+fl.Name)
		case fl.Value.Type() == "bool":
			parts = append(parts, "--"+fl.Name+"="+fl.Value.String())
		default:
			parts = append(parts, "--"+fl.Name+" "+shellWord(fl.Value.String()))
		}
	})
	return strings.Join(parts, " ")
}

// shellWord is s as one word of a POSIX shell: as it is where the shell
// reads every character as itself, else in single quotes.
func shellWord(s string) string {
	const plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=+@%"
	if s != "" && strings.Trim(s, plain) == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func runBench(cmd *cobra.Command, f *benchFlags) error {
	o, err := f.options(cmd)
	if err != nil {
		return usage(err)
	}
	machine := bench.Describe(bench.GPUsOf(o.Devices))
	stem := bench.Stem(time.Now(), machine, f.tag)
	if err := checkTag(stem, f.tag); err != nil {
		return usage(err)
	}
	if err := checkPeerIsNoOutput(f.peer, f.out, stem); err != nil {
		return usage(err)
	}
	var peer []bench.Result
	if f.peer != "" {
		if peer, err = readPeer(f.peer, o.Preset); err != nil {
			return err
		}
	}
	if f.out == "" {
		return usage(errors.New("--out is empty; give the directory of the report, such as bench/results"))
	}
	// Locked before the sweep, not after it: the directory must be writable,
	// and not another sweep's; Release takes it away again if still empty.
	lock, err := lockOut(f.out)
	if err != nil {
		return err
	}
	defer lock.Release()
	if err := bench.CheckTempDir(); err != nil { // each point runs in a temporary directory
		return usage(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, sig, release := onStopSignal(log, "finishing the current step; no report will be written", func() string { return "no report was written" })
	defer release()
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "bench: %s, %s, %s each\n", o.Model, words.Count(len(o.Points()), "point"), words.Count(o.Steps, "measured step"))
	began := time.Now()
	rs, err := bench.Run(ctx, o, out)
	stopped := func(s os.Signal) error {
		return interrupted{exitCode(s), fmt.Sprintf("interrupted by %s after %d of %d points; no report written", sigName(s), len(rs), len(o.Points()))}
	}
	if err != nil {
		if s := sig(); s != nil { // the sweep stopped for it: a point's error is only the interruption
			return stopped(s)
		}
		return err
	}
	if s := sig(); s != nil { // came as the last point's line was printed
		return stopped(s)
	}
	ran := 0
	for _, r := range rs {
		if r.Skipped == "" {
			ran++
		}
	}
	switch { // an empty report would replace an earlier sweep's
	case len(rs) == 0:
		return usage(fmt.Errorf("the sweep has no points; nothing written to %s", f.out))
	case ran == 0:
		return usage(fmt.Errorf("no point of the sweep could run (the first: %s); nothing written to %s", rs[0].Skipped, f.out))
	}
	// A signal after the last point stops the sweep too: Write writes
	// nothing once it came. One that comes while the files are written
	// comes after the report: they replace an earlier report of the same
	// name file by file, and taking them back would leave neither.
	rep := bench.Report{Command: o.Command, Date: began, Machine: machine, Options: o, Elapsed: time.Since(began), Peer: peer, Tag: f.tag}
	written, removed, err := bench.Write(ctx, f.out, rep, rs)
	release()
	if s := sig(); s != nil && len(written) == 0 {
		return stopped(s)
	}
	if err != nil {
		return err
	}
	line := fmt.Sprintf("bench: %d of %d points ran in %s", ran, len(rs), rep.Elapsed.Round(100*time.Millisecond))
	if h := bench.SweepHeadline(o, rs); h != "" { // none when no point ran on several devices
		line += "; " + h
	}
	fmt.Fprintln(out, line)
	for _, p := range written {
		fmt.Fprintln(out, "wrote", p)
	}
	for _, p := range removed {
		fmt.Fprintln(out, "removed", p, "(an earlier sweep's chart that this one does not draw)")
	}
	return nil
}

// checkTag refuses a --tag that makes one of the sweep's file names longer
// than a file system takes, before the sweep rather than after it. The
// temporary names the files are first written under are cut to fit
// (fsutil.HiddenPrefix), so the names themselves are the limit.
func checkTag(stem, tag string) error {
	longest := 0
	for _, n := range bench.FileNames(stem) {
		longest = max(longest, len(n))
	}
	if longest > fsutil.NameMax {
		return fmt.Errorf("--tag is %d characters: the sweep's file names would be up to %d bytes long, over the %d a file system takes; give a --tag of at most %d characters",
			len(tag), longest, fsutil.NameMax, fsutil.NameMax-(longest-len(tag)))
	}
	return nil
}

// checkPeerIsNoOutput refuses a --peer that is one of the files the sweep
// writes under out, by any path or link: its rows, read before the sweep,
// would come back in the new CSV and report as if this sweep had measured
// them, and the file itself be replaced. A peer that cannot be opened is
// left to readPeer to name.
func checkPeerIsNoOutput(peer, out, stem string) error {
	if peer == "" {
		return nil
	}
	pi, err := os.Stat(peer)
	if err != nil {
		return nil
	}
	for _, name := range bench.FileNames(stem) {
		p := filepath.Join(out, name)
		if oi, err := os.Stat(p); err == nil && os.SameFile(pi, oi) {
			return fmt.Errorf("--peer %s is %s, a file this sweep writes: its rows would come back as measured by this sweep; give --peer a copy kept outside --out, or another --tag", peer, p)
		}
	}
	return nil
}

// readPeer reads --peer's CSV, before the sweep, so that a bad file costs
// no run; a file with no row of the sweep's model compares nothing.
func readPeer(path, model string) ([]bench.Result, error) {
	fh, _, err := fsutil.OpenRegular(path) // a named pipe would hang the read
	if err != nil {
		return nil, fmt.Errorf("--peer: %v", err)
	}
	defer fh.Close()
	rs, err := bench.ReadCSV(fh)
	if err != nil {
		return nil, fmt.Errorf("--peer %s: %v", path, err)
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("--peer %s: no rows; run scripts/torch_peer.py --out %s first", path, path)
	}
	if same, _ := bench.SplitPeer(model, rs); len(same) == 0 {
		var models []string
		for _, r := range rs {
			if m := fmt.Sprintf("%s (p=%d)", r.Model, r.P()); !slices.Contains(models, m) {
				models = append(models, m)
			}
		}
		return nil, fmt.Errorf("--peer %s: no row of this sweep's model %s on one device, only of %s; give a file of the same model (scripts/torch_peer.py --model), or leave --peer out",
			path, model, strings.Join(models, ", "))
	}
	return rs, nil
}
