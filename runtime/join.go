// Joining a run of several processes: the rendezvous on rank 0's store, the check that every rank was started alike, the mesh, and the clocks.

package runtime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"baton/internal/field"
	"baton/runtime/device"
	"baton/runtime/dist"
)

// clockSamples is how many round trips a rank's clock offset is taken from.
const clockSamples = 16

// joinEntry is what a rank tells the others through the store.
type joinEntry struct {
	Version  string   `json:"version"`
	Settings Settings `json:"settings"` // its devices left out: each rank has its own
	Devices  []string `json:"devices"`
	GPUs     []gpuOn  `json:"gpus"` // per device: the GPU it is on, for rank 0's choice of a split that fits
	// Resume and Out are not settings of the run's record, but the ranks
	// must agree on them: one run directory, continued by all or by none.
	Resume bool   `json:"resume"`
	Out    string `json:"out"`
	World  int    `json:"world"` // the number of ranks it was started in
	// Host and OutAbs tell ranks on one host that name one directory two
	// ways (run, /home/me/run) from ranks that name two with one spelling
	// (run, from two working directories); across hosts Out is compared.
	Host   string `json:"host"`
	OutAbs string `json:"out_abs"`
}

// Join brings this process into the run env describes, within timeout:
// rank 0 serves the store at MASTER_ADDR:MASTER_PORT; every rank publishes
// its version, settings and devices, and is refused (each rank says why)
// when any rank's differ from rank 0's; the ranks connect to each other;
// each measures its clock against rank 0's. cfg is this rank's
// configuration, its Devices its own.
func Join(ctx context.Context, env dist.Env, cfg TrainConfig, timeout time.Duration) (*Group, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(env.MasterAddr, strconv.Itoa(env.MasterPort))
	var server *dist.StoreServer
	if env.Rank == 0 {
		var err error
		if server, err = dist.ServeStore(net.JoinHostPort("", strconv.Itoa(env.MasterPort))); err != nil {
			from := ""
			if env.PortFrom != "" {
				from = " (" + env.PortFrom + ")"
			}
			return nil, fmt.Errorf("serving the rendezvous at port %d%s: %w; give rank 0 a port no other process listens on", env.MasterPort, from, err)
		}
	}
	st, err := dist.DialStore(ctx, addr)
	if err != nil {
		closeServer(server)
		return nil, err
	}
	g, err := join(ctx, st, env, cfg, timeout)
	st.Close()
	if err != nil {
		closeServer(server)
		return nil, err
	}
	g.server = server
	return g, nil
}

func closeServer(s *dist.StoreServer) {
	if s != nil {
		s.Close()
	}
}

func join(ctx context.Context, st *dist.Store, env dist.Env, cfg TrainConfig, timeout time.Duration) (*Group, error) {
	mine := joinEntry{Version: Version().String(), Settings: cfg.Settings(), Devices: device.Strings(cfg.Devices), GPUs: gpusOf(cfg.Devices),
		Resume: cfg.Resume, Out: filepath.Clean(cfg.Out), World: env.WorldSize}
	mine.Host, _ = os.Hostname()
	mine.OutAbs = realPath(cfg.Out)
	// Each rank has its own devices; the data may lie at another path on
	// each host, and its tokens are compared (sameData).
	mine.Settings.Devices, mine.Settings.Data = nil, ""
	raw, err := json.Marshal(mine)
	if err != nil {
		return nil, err
	}
	if err := st.Set("join/"+strconv.Itoa(env.Rank), raw); err != nil {
		return nil, err
	}
	late := func(did, check string) func(err error, r int) error {
		return func(err error, r int) error { return lateRank(err, r, did, check, cfg.Timeout, timeout) }
	}
	unstarted := fmt.Sprintf("check that it was started, as one of %d ranks, and reaches rank 0 at %s", env.WorldSize, net.JoinHostPort(env.MasterAddr, strconv.Itoa(env.MasterPort)))
	stopped := "it joined, then stopped or failed (its own output says why)"
	entries := make([]joinEntry, env.WorldSize)
	for r := range entries {
		v, refused, err := st.GetOr(ctx, "join/"+strconv.Itoa(r), refusedKey)
		if err != nil {
			return nil, late("join", unstarted)(err, r)
		}
		if refused {
			var w otherWorlds
			if err := json.Unmarshal(v, &w); err != nil {
				return nil, fmt.Errorf("the store's word that the run was refused: %w", err)
			}
			return nil, refuse(ctx, st, env, w)
		}
		if err := json.Unmarshal(v, &entries[r]); err != nil {
			return nil, fmt.Errorf("rank %d's entry in the store: %w", r, err)
		}
		if w := entries[r].World; w != 0 && w != env.WorldSize { // 0: another build, which sameStart names
			return nil, refuse(ctx, st, env, newOtherWorlds(r, w, env.Rank, env.WorldSize))
		}
	}
	// Every rank checks every entry itself, so that all say why a rank is
	// refused; rank 0 keeps the store until each has read them all.
	if err := barrier(ctx, st, "read/", env.Rank, env.WorldSize, late("read the others' settings", stopped)); err != nil {
		return nil, err
	}
	if err := sameStart(entries); err != nil {
		return nil, &ConfigError{err}
	}
	mesh, err := dist.Connect(ctx, st, env.Rank, env.WorldSize, "")
	if err != nil {
		return nil, err
	}
	// A send to a rank that stopped reading (a stopped or hung process)
	// blocks once the connection's buffers fill, where no receive's
	// watchdog sees it: --timeout bounds it as it bounds a receive.
	mesh.SendTimeout, mesh.Describe = cfg.Timeout, describeTag
	g := &Group{Mesh: mesh, Offsets: make([]time.Duration, env.WorldSize)}
	for r, e := range entries {
		for i, d := range e.Devices {
			g.Ranks = append(g.Ranks, r)
			g.Names = append(g.Names, fmt.Sprintf("rank%d/%s", r, d))
			g.GPUs = append(g.GPUs, e.GPUs[i])
		}
	}
	if err := g.measureClocks(ctx, st); err != nil {
		mesh.Close()
		return nil, err
	}
	// Rank 0 returns once every rank is done with the store: a rank 0 that
	// then fails (its own checks) and takes the store down leaves no rank
	// reading from it, which would report the lost store, not the reason.
	if err := barrier(ctx, st, "joined/", env.Rank, env.WorldSize, late("finish joining", stopped)); err != nil {
		mesh.Close()
		return nil, err
	}
	return g, nil
}

// realPath is p absolute, with symbolic links followed where it exists
// (the run directory does by now: the rank has locked it), so that every
// spelling of one directory on a host is one string.
func realPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}

// refusedKey is where a rank that refuses the run says why, for the ranks
// waiting on one that will never come: their world has a rank that none
// was started as (nodes with other --nproc-per-node), so only a rank
// started in another world can tell them.
const refusedKey = "refused"

// otherWorlds is two ranks started in worlds of other sizes, the lower
// rank first, so that every rank names them alike.
type otherWorlds struct{ Rank, World, Other, OtherWorld int }

func newOtherWorlds(r, w, q, v int) otherWorlds {
	if q < r {
		r, w, q, v = q, v, r, w
	}
	return otherWorlds{r, w, q, v}
}

func (o otherWorlds) Error() string {
	return fmt.Sprintf("rank %d was started as one of %d ranks, rank %d as one of %d (the launcher's WORLD_SIZE, SLURM_NTASKS or OMPI_COMM_WORLD_SIZE); start every rank with the same number of ranks",
		o.Rank, o.World, o.Other, o.OtherWorld)
}

// refuse is this rank's refusal of a run whose ranks were started in
// worlds of other sizes: at once, rather than wait out the timeout for
// ranks that will never come. It leaves why in the store, for every rank
// still waiting. Rank 0, which serves the store, waits (a few seconds at
// most) for each rank that joined to have read what it needs to refuse as
// well, so that each says why rather than that the store was lost.
func refuse(ctx context.Context, st *dist.Store, env dist.Env, why otherWorlds) error {
	if _, told, err := st.Lookup(refusedKey); err == nil && !told {
		raw, _ := json.Marshal(why)
		st.Set(refusedKey, raw)
	}
	if env.Rank == 0 {
		wait, cancel := context.WithTimeout(ctx, 5*time.Second)
		for r := 1; r < env.WorldSize; r++ {
			if _, joined, _ := st.Lookup("join/" + strconv.Itoa(r)); joined {
				st.Get(wait, "read/"+strconv.Itoa(r))
			}
		}
		cancel()
	} else {
		st.Set("read/"+strconv.Itoa(env.Rank), nil)
	}
	return &ConfigError{why}
}

// barrier marks this rank's key under prefix in the store, saying it has
// done a step of the rendezvous; rank 0 waits for every rank's, so that it
// keeps the store until then. late words a wait for rank r that failed.
func barrier(ctx context.Context, st *dist.Store, prefix string, rank, world int, late func(err error, r int) error) error {
	if err := st.Set(prefix+strconv.Itoa(rank), nil); err != nil {
		return err
	}
	if rank != 0 {
		return nil
	}
	for r := range world {
		if _, err := st.Get(ctx, prefix+strconv.Itoa(r)); err != nil {
			return late(err, r)
		}
	}
	return nil
}

// lateRank words a wait for rank r to do a step of the rendezvous that
// failed: one that ran out says what r did not do within which limit
// (--timeout, or the rendezvous's own where --timeout is 0, for no limit)
// and what to check, rather than the store key and Go's context error.
func lateRank(err error, r int, did, check string, flag, limit time.Duration) error {
	if !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("waiting for rank %d to %s: %w", r, did, err)
	}
	if flag != limit {
		return field.Errorf("timeout", "rank %d did not %s within %v, the rendezvous's limit where {timeout} is 0: %s", r, did, limit, check)
	}
	return field.Errorf("timeout", "rank %d did not %s within {timeout} %v: %s", r, did, limit, check)
}

// sameStart refuses ranks started unlike rank 0: another build, or a
// setting of another value, named with both values.
func sameStart(entries []joinEntry) error {
	want := entries[0]
	for r, e := range entries[1:] {
		r++
		if e.Version != want.Version {
			return field.Errorf("version", "rank %d runs baton %s but rank 0 runs %s; start every rank from the same build", r, e.Version, want.Version)
		}
		switch {
		case e.Resume != want.Resume:
			return field.Errorf("resume", "rank %d was started %s {resume} but rank 0 %s; continue the run on every rank, or on none", r, with(e.Resume), with(want.Resume))
		case e.Host == want.Host && e.OutAbs != want.OutAbs:
			return field.Errorf("out", "rank %d was started with {out} %s but rank 0 with %s on the same host; the ranks write one run directory: give each the same {out}", r, e.OutAbs, want.OutAbs)
		case e.Host != want.Host && e.Out != want.Out:
			return field.Errorf("out", "rank %d was started with {out} %s but rank 0 with %s; the ranks write one run directory: give each the same {out}", r, e.Out, want.Out)
		}
		a, b := reflect.ValueOf(want.Settings), reflect.ValueOf(e.Settings)
		for i := range a.NumField() {
			if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
				name := settingName(a.Type().Field(i))
				return field.Errorf(name, "rank %d was started with {"+name+"} %s but rank 0 with %s; start every rank with the same settings (only {devices} may differ)",
					r, settingValue(b.Field(i)), settingValue(a.Field(i)))
			}
		}
		if len(e.Devices) == 0 {
			return field.Errorf("devices", "rank %d has no devices; give each rank its own with {devices}", r)
		}
	}
	return nil
}

// with words whether a rank was started with a flag.
func with(given bool) string {
	if given {
		return "with"
	}
	return "without"
}

// settingValue is a setting's value as a message shows it: an empty text
// or list, a flag not given, as none.
func settingValue(v reflect.Value) string {
	if (v.Kind() == reflect.String || v.Kind() == reflect.Slice) && v.Len() == 0 {
		return "none (not given)"
	}
	return fmt.Sprint(v.Interface())
}

// settingName is a Settings field's name as errors name it: its JSON key.
func settingName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// measureClocks takes each rank's clock offset against rank 0 and shares
// them through the store, with the largest uncertainty.
func (g *Group) measureClocks(ctx context.Context, st *dist.Store) error {
	rank := g.Rank()
	var mine struct{ Offset, Uncertainty time.Duration }
	if rank != 0 {
		off, unc, err := g.Mesh.ClockOffset(0, clockSamples)
		if err != nil {
			return fmt.Errorf("measuring the clock against rank 0: %w", err)
		}
		// ClockOffset is rank 0's clock minus this one's; a rank's offset is its own minus rank 0's.
		mine.Offset, mine.Uncertainty = -off, unc
	}
	raw, _ := json.Marshal(mine)
	if err := st.Set("clock/"+strconv.Itoa(rank), raw); err != nil {
		return err
	}
	for r := range g.Offsets {
		v, err := st.Get(ctx, "clock/"+strconv.Itoa(r))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(v, &mine); err != nil {
			return err
		}
		g.Offsets[r] = mine.Offset
		g.Uncertainty = max(g.Uncertainty, mine.Uncertainty)
	}
	return nil
}

// Close leaves the run: the mesh, and on rank 0 the store.
func (g *Group) Close() error {
	err := g.Mesh.Close()
	closeServer(g.server)
	return err
}
