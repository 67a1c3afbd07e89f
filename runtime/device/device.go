// Package device is where a stage's kernels run: the Device and Event
// interfaces, device names parsed once into a typed Name, the virtual CPU
// device, and a registry that a build with more kinds of device (CUDA's,
// in runtime/device/cuda) adds its driver to.
//
// Main types: Device (a stream of work with events and timers), Event (a
// point on a device's stream), Name (a parsed device name: cpu:0, cuda:0,
// cuda:0/4#2), Options (what a device is opened with, its precision among
// them), Info (what List reports), CPU (the virtual CPU device).
package device

import (
	"time"

	"baton/internal/field"
	"baton/kernels"
)

// Event is a point on one device's timeline, recorded in its stream order.
type Event interface{}

// Device is where a stage's kernels run, in the order they are issued (its
// stream), with timers and memory accounting.
type Device interface {
	Name() string
	Ops() kernels.Ops
	// Record marks the current point of the device's stream.
	Record() Event
	// Wait makes the device's stream wait until e, recorded on any device, has passed.
	Wait(e Event)
	// Elapsed is the time from a to b, both recorded on this device.
	Elapsed(a, b Event) time.Duration
	// CopyTo copies src (this device's) into dst (owned by peer), in this device's stream.
	CopyTo(peer Device, dst, src kernels.Buffer)
	// Sync waits on the host until the device's stream is drained.
	Sync()
	// Memory is the bytes allocated and not freed now, and the most at
	// once since the device was made.
	Memory() (live, peak int64)
	// Free takes back b, a whole buffer of Ops' making (not a Slice of
	// one) that no work queued or to come uses: Memory stops counting it.
	Free(b kernels.Buffer)
	// Bind readies the calling goroutine to issue work on the device, and
	// unbind undoes it: a CUDA device locks the goroutine to its OS thread
	// and makes its context current there; a CPU device does nothing. Each
	// executor worker binds its device for the whole step.
	Bind() (unbind func())
	Close() error
}

// Options are what devices are opened with.
type Options struct {
	// Precision is the arithmetic of the matrix products on devices that
	// have a choice (CUDA); CPU devices compute in float32 whatever it is.
	Precision kernels.Precision
	// StochasticRounding makes AdamW round bf16 parameters' copies from their
	// float32 masters stochastically, with random bits from Seed (BF16 only;
	// to the nearest bf16 otherwise).
	StochasticRounding bool
	Seed               uint64
}

// Driver opens and lists the devices of one kind other than the CPU's.
type Driver struct {
	Open func(n Name, opt Options) (Device, error)
	// List describes every device of the kind without opening one, with
	// the driver's version ("CUDA 12.8").
	List func() (devs []Info, version string, err error)
	// LinkID and OpenLink, where devices of the kind can reach a device of
	// another process directly (NCCL), make and open such links (nil: the
	// processes' data go through the host).
	LinkID   func() ([]byte, error)
	OpenLink func(dev Device, id []byte, end int) (PeerLink, error)
}

var drivers = map[Kind]Driver{}

// Register adds the driver of kind k; a build that has such devices calls
// it from an init function.
func Register(k Kind, d Driver) { drivers[k] = d }

// Available says whether this binary can open devices of kind k.
func Available(k Kind) bool {
	_, ok := drivers[k]
	return k == KindCPU || ok
}

// Unavailable is a device this machine cannot give as named (no such GPU,
// a split its SMs cannot make, one device named twice): the list's fault,
// which Open's caller reports as a bad setting, unlike a driver's failure.
type Unavailable struct{ Err error }

func (e *Unavailable) Error() string { return e.Err.Error() }
func (e *Unavailable) Unwrap() error { return e.Err }

// Open opens the named devices (from Expand) with opt. On an error every
// device already opened is closed; one that names a device this machine
// cannot give is an *Unavailable.
func Open(names []Name, opt Options) ([]Device, error) {
	var devs []Device
	for _, n := range names {
		if n.Kind == KindCPU {
			devs = append(devs, NewSlowCPU(n.String(), n.Slow))
			continue
		}
		drv, ok := drivers[n.Kind]
		if !ok {
			CloseAll(devs)
			return nil, field.Errorf("devices", "{devices} %s: this binary was built without CUDA support; build with -tags cuda, or give {devices} cpu:0 (or more cpu: devices; a checkpoint continues on any)", n)
		}
		d, err := drv.Open(n, opt)
		if err != nil {
			CloseAll(devs)
			return nil, err
		}
		devs = append(devs, d)
	}
	return devs, nil
}

// CloseAll closes every device, ignoring errors: for cleaning up after a
// failure that is already being reported.
func CloseAll(devs []Device) {
	for _, d := range devs {
		d.Close()
	}
}

// Names are the devices' names, in order.
func Names(devs []Device) []string {
	out := make([]string, len(devs))
	for i, d := range devs {
		out[i] = d.Name()
	}
	return out
}
