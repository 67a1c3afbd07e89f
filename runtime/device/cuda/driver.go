//go:build cuda

// The driver calls of CUDA devices on gorgonia.org/cu: their errors, named by call and by the driver's code, and the few calls that need more than one of cu's.

package cuda

import (
	"errors"
	"fmt"
	"reflect"

	"gorgonia.org/cu"
)

// DriverError is a failed CUDA driver call. errors.Is matches it against
// gorgonia.org/cu's results: errors.Is(err, cu.OutOfMemory).
type DriverError struct {
	Op   string // the call, with what it was doing
	Code int    // CUresult
}

func (e *DriverError) Error() string {
	name, msg := errorText(e.Code)
	return fmt.Sprintf("%s: %s (%s)", e.Op, msg, name)
}

// Is reports whether target is cu's result of the same code.
func (e *DriverError) Is(target error) bool {
	code, ok := cuCode(target)
	return ok && code == e.Code
}

// cuResultType is the type of cu's results: unexported, an int holding the
// CUresult.
var cuResultType = reflect.TypeOf(cu.Success)

// cuCode is the CUresult of an error cu returned.
func cuCode(err error) (int, bool) {
	if err == nil || reflect.TypeOf(err) != cuResultType {
		return 0, false
	}
	return int(reflect.ValueOf(err).Int()), true
}

// check names the call op in err, an error of cu or nil.
func check(op string, err error) error {
	if err == nil {
		return nil
	}
	if code, ok := cuCode(err); ok {
		return &DriverError{Op: op, Code: code}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// driverVersion is the driver's version, "CUDA 12.8" ("" when it says none).
func driverVersion() string {
	v := cu.Version()
	if v < 0 {
		return ""
	}
	return fmt.Sprintf("CUDA %d.%d", v/1000, v%1000/10)
}

// gpuFacts are a GPU's fixed properties.
type gpuFacts struct {
	name         string
	major, minor int
	sms          int
	memory       int64
	uuid         string // as nvidia-smi writes it: "GPU-" and the UUID
}

func deviceFacts(d cu.Device) (f gpuFacts, err error) {
	if f.name, err = d.Name(); err != nil {
		return f, check("cuDeviceGetName", err)
	}
	for _, a := range []struct {
		attr cu.DeviceAttribute
		dst  *int
	}{{cu.MultiprocessorCount, &f.sms}, {cu.ComputeCapabilityMajor, &f.major}, {cu.ComputeCapabilityMinor, &f.minor}} {
		if *a.dst, err = d.Attribute(a.attr); err != nil {
			return f, check("cuDeviceGetAttribute", err)
		}
	}
	if f.memory, err = d.TotalMem(); err != nil {
		return f, check("cuDeviceTotalMem", err)
	}
	id, err := d.UUID()
	f.uuid = "GPU-" + id.String()
	return f, check("cuDeviceGetUuid", err)
}

func canAccessPeer(d, peer cu.Device) (bool, error) {
	can, err := d.CanAccessPeer(peer)
	return can != 0, check("cuDeviceCanAccessPeer", err)
}

// ctxCurrent is the calling thread's current context (none on an error).
func ctxCurrent() cu.CUContext {
	c, err := cu.CurrentContext()
	if err != nil {
		return cu.CUContext{}
	}
	return c
}

func setCurrent(c cu.CUContext) error {
	return check("cuCtxSetCurrent", cu.SetCurrentContext(c))
}

// enablePeer lets the current context reach peer's memory.
func enablePeer(peer cu.CUContext) error {
	err := peer.EnablePeerAccess(0)
	if errors.Is(err, cu.PeerAccessAlreadyEnabled) {
		return nil
	}
	return check("cuCtxEnablePeerAccess", err)
}
