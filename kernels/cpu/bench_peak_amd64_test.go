// The machine's FMA peak: the ceiling BenchmarkGemm's GFLOP/s are read against.

package cpu

import (
	"runtime"
	"sync"
	"testing"
)

// BenchmarkFMAPeak runs fmaLoop (12 independent ymm FMA chains, 192 flops
// an iteration) on GOMAXPROCS goroutines at once, one per core: the most
// float32 FLOP/s AVX2 code can reach here. cpu-GFLOP/s is the peak of one
// core.
func BenchmarkFMAPeak(b *testing.B) {
	const iters = 1 << 20
	p := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	m := meter(b)
	for b.Loop() {
		wg.Add(p)
		for range p {
			go func() {
				fmaLoop(iters)
				wg.Done()
			}()
		}
		wg.Wait()
	}
	m.report(float64(p) * iters * 192)
}
