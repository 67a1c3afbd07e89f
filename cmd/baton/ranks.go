// baton train as one rank of several processes: its devices, its own directory, and the rendezvous with the others.

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"baton/internal/runlock"
	"baton/internal/words"
	"baton/runtime"
	"baton/runtime/device"
	"baton/runtime/dist"
)

// joinTimeout bounds the rendezvous when --timeout is 0 (no limit on a
// step's waits): ranks that never all arrive must still end.
const joinTimeout = 5 * time.Minute

// joinRanks makes cfg a rank's: its own devices (cuda:LOCAL_RANK, or
// cpu:0, unless --devices names them), then joins the others, which must
// have been started with the same settings.
func joinRanks(fl *pflag.FlagSet, cfg *runtime.TrainConfig, env dist.Env) (*runtime.Group, error) {
	if !fl.Changed("out") { // no configuration file gives one: --out is the command line's
		return nil, usage(fmt.Errorf("a run of %d processes (%s) needs --out: the run directory, the same on every rank", env.WorldSize, env.Source))
	}
	if !fl.Changed("devices") {
		d, err := rankDevice(env)
		if err != nil {
			return nil, usage(err)
		}
		cfg.Devices = []device.Name{d}
	}
	if os.Getenv(launchPIDEnv) != "" { // launch sets MASTER_PORT from its own flag
		env.PortFrom = "baton launch's --master, or the free port it picked"
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = joinTimeout
	}
	g, err := runtime.Join(context.Background(), env, *cfg, timeout)
	if err != nil {
		return nil, fmt.Errorf("rank %d of %d: %w", env.Rank, env.WorldSize, err)
	}
	g.Timeout = timeout
	cfg.Group = g
	return g, nil
}

// rankDevice is a rank's device when --devices is not given: the GPU of its
// local rank where this build sees GPUs (refused when the host has fewer
// GPUs than local ranks: part of the model on a CPU would be a surprise),
// else one virtual CPU device.
func rankDevice(env dist.Env) (device.Name, error) {
	infos, _, _ := device.List()
	gpus := 0
	for _, in := range infos {
		if in.Kind == device.KindCUDA {
			gpus++
		}
	}
	switch {
	case gpus == 0:
		return device.Name{Kind: device.KindCPU, Part: -1}, nil
	case env.LocalRank >= gpus:
		return device.Name{}, fmt.Errorf("rank %d is local rank %d but this host has %s: give each rank its devices with --devices (--devices cuda:0 on every rank shares GPU 0), or start at most %s here",
			env.Rank, env.LocalRank, words.Count(gpus, "GPU"), words.Count(gpus, "rank"))
	}
	return device.Name{Kind: device.KindCUDA, Index: env.LocalRank, Part: -1}, nil
}

// lockRank locks the directory this process writes its part of the run
// in (rankDir). Among ranks, a directory locked already is as often a
// second process started as the same rank (two launchers whose ranks
// overlap) as another run of --out: the message names both.
func lockRank(out string, env dist.Env) (*runlock.Lock, error) {
	l, err := lockOut(rankDir(out, env))
	var busy *runlock.BusyError
	if env.WorldSize > 1 && errors.As(err, &busy) {
		return nil, fmt.Errorf("rank %d of %d: --out %v: another process was started as rank %d (the launcher's RANK, SLURM_PROCID or OMPI_COMM_WORLD_RANK; under baton launch, hosts with the same --node-rank or other --nproc-per-node), or another run of --out %s runs; give each process its own rank, or wait for that run to end or choose another --out",
			env.Rank, env.WorldSize, busy, env.Rank, out)
	}
	return l, err
}

// rankDir is the directory a rank locks and writes its own part in: the run
// directory for rank 0, ranks/N in it for the others.
func rankDir(out string, env dist.Env) string {
	if env.Rank == 0 {
		return out
	}
	return filepath.Join(out, "ranks", strconv.Itoa(env.Rank))
}
