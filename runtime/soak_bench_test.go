// The soak benchmark: thousands of steps on 4 virtual devices, checking that memory and goroutines stay flat.

package runtime

import (
	goruntime "runtime"
	"testing"

	"baton/model"
)

// BenchmarkSoak runs 10,000 steps of a tiny model over 4 virtual devices
// with 1F1B and reports the Go heap and goroutine count after the first 100
// steps and at the end, and each device's counted memory. Growth in any of
// them is a leak: of stashes, events, mailboxes or workers.
func BenchmarkSoak(b *testing.B) {
	const steps, warm = 10_000, 100
	cfg := model.Presets["tiny"]
	cfg.L = 4
	for b.Loop() {
		pl := newPipeline(b, cfg, "1f1b", 4, 4, 8)
		var heap0, heap1 uint64
		var gor0, gor1 int
		var dev0, dev1 int64
		for i := range steps {
			pl.step(b)
			if i+1 == warm || i+1 == steps {
				goruntime.GC()
				var ms goruntime.MemStats
				goruntime.ReadMemStats(&ms)
				var dev int64
				for _, d := range pl.devs {
					live, _ := d.Memory()
					dev += live
				}
				if i+1 == warm {
					heap0, gor0, dev0 = ms.HeapAlloc, goruntime.NumGoroutine(), dev
				} else {
					heap1, gor1, dev1 = ms.HeapAlloc, goruntime.NumGoroutine(), dev
				}
			}
		}
		b.ReportMetric(float64(heap0)/(1<<20), "heapMiB@100")
		b.ReportMetric(float64(heap1)/(1<<20), "heapMiB@10k")
		b.ReportMetric(float64(gor0), "goroutines@100")
		b.ReportMetric(float64(gor1), "goroutines@10k")
		b.ReportMetric(float64(dev0)/(1<<20), "deviceMiB@100")
		b.ReportMetric(float64(dev1)/(1<<20), "deviceMiB@10k")
	}
}
