//go:build !linux

// Huge pages for large buffers: a Linux hint; elsewhere the buffer is plain heap memory.

package cpu

import "unsafe"

// adviseHuge does nothing off Linux.
func adviseHuge(unsafe.Pointer, uintptr) {}
