// Huge pages for large buffers on Linux: madvise the heap memory behind them.

package cpu

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// hugePage is the size of a transparent huge page on the architectures
// baton runs on (amd64, arm64 with 4 KiB base pages).
const hugePage = 2 << 20

// adviseHuge asks the kernel to back the 2 MiB-aligned interior of the n
// bytes at p with transparent huge pages (MADV_HUGEPAGE: honoured where THP
// is "always" or "madvise", the usual default), then to fault all n bytes in
// now (MADV_POPULATE_WRITE, Linux 5.14): one 2 MiB fault instead of 512 of
// 4 KiB, and none left for the first step to take. Both are hints on memory
// the Go heap owns and never changes the contents of: a kernel that refuses
// them (older, THP off) leaves the buffer as it was. The Go runtime itself
// sets no huge-page advice on heap memory since Go 1.21.1, so nothing undoes
// it; when the buffer is freed and the scavenger returns its pages, the
// kernel splits the huge pages as it would any.
func adviseHuge(p unsafe.Pointer, n uintptr) {
	start := uintptr(p)
	lo := (start + hugePage - 1) &^ (hugePage - 1)
	hi := (start + n) &^ (hugePage - 1)
	if hi > lo {
		_ = unix.Madvise(unsafe.Slice((*byte)(unsafe.Add(p, lo-start)), hi-lo), unix.MADV_HUGEPAGE)
	}
	_ = unix.Madvise(unsafe.Slice((*byte)(p), n), unix.MADV_POPULATE_WRITE)
}
