// The roofline line: GPU peaks by name, bounds by hand on an H100, and work without a bound on CPU devices.

package report

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"baton/model"
)

// The driver's names of the GPUs baton has figures for, and of variants it
// must not mistake for them.
func TestPeakOf(t *testing.T) {
	for gpu, want := range map[string]string{
		"NVIDIA H100 80GB HBM3": "H100 SXM", "NVIDIA H200": "H200", "NVIDIA A100-SXM4-80GB": "A100 80GB",
		"NVIDIA H100 PCIe": "", "NVIDIA H100 NVL": "", "NVIDIA A100-SXM4-40GB": "", "NVIDIA GeForce RTX 4090": "",
	} {
		p, ok := PeakOf(gpu)
		if ok != (want != "") || p.Name != want {
			t.Errorf("PeakOf(%q) = %q, %v; want %q", gpu, p.Name, ok, want)
		}
	}
}

// Two kernels on an H100 in tf32, by hand: a square GEMM bound by its
// arithmetic, a copy by its bytes; the step's allowed time is their sum
// over the GPUs.
func TestBuildRooflineByHand(t *testing.T) {
	gemm := model.GemmCost(false, false, 4096, 4096, 4096, false, 4) // 2·4096³ FLOPs, 3·4096²·4 bytes
	cp := model.CopyCost(1<<20, 4)                                   // 8 MiB
	ks := []model.Kernel{
		{Cost: gemm, Unit: "h.0", Action: "F", Calls: 2},
		{Cost: gemm, Unit: "h.1", Action: "F", Calls: 2},
		{Cost: cp, Unit: "h.0", Action: "B", Calls: 3},
	}
	measured := []KernelTime{{Op: "Gemm", Shape: gemm.Shape, Calls: 4, Seconds: 0.002}}
	r := BuildRoofline(ks, "NVIDIA H100 80GB HBM3", "cuda:0,cuda:1", 2, "tf32", 0.004, measured)
	gemmS := 4 * 2 * math.Pow(4096, 3) / 494.7e12
	copyS := 3 * 8 * float64(1<<20) / 3.35e12
	near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Abs(b) }
	if len(r.Kernels) != 2 {
		t.Fatalf("%d rows, want 2 (one per op and shape): %+v", len(r.Kernels), r.Kernels)
	}
	g, c := r.Kernels[0], r.Kernels[1]
	if g.Op != "Gemm" || g.Calls != 4 || g.Bound != "compute" || !near(g.BoundS, gemmS) || g.Where != "F h.0-1" || g.MeasuredS == nil || *g.MeasuredS != 0.002 {
		t.Errorf("GEMM row %+v; want 4 calls, compute-bound %v s, F h.0-1, measured 0.002 s", g, gemmS)
	}
	if c.Op != "Copy" || c.Bound != "memory" || !near(c.BoundS, copyS) || c.MeasuredS != nil {
		t.Errorf("copy row %+v; want memory-bound %v s, not measured", c, copyS)
	}
	if want := (gemmS + copyS) / 2; !near(r.BoundS, want) || !near(r.Fraction, want/0.004) {
		t.Errorf("step allowed %v s (%v of measured), want %v s", r.BoundS, r.Fraction, want)
	}
	var out bytes.Buffer
	r.Print(&out)
	if !strings.Contains(out.String(), "of what these 2 GPUs allow") || !strings.Contains(out.String(), "compute-bound") {
		t.Errorf("printed:\n%s", out.String())
	}
}

// On CPU devices there is no bound, only the work and the measured time.
func TestBuildRooflineCPU(t *testing.T) {
	ks := []model.Kernel{{Cost: model.CopyCost(10, 4), Unit: "stage", Action: "STEP", Calls: 1}}
	r := BuildRoofline(ks, "", "cpu:0", 0, "fp32", 0.001, nil)
	if r.BoundS != 0 || r.Kernels[0].Bound != "" || !strings.Contains(r.Note, "no roofline for this device") || r.Bytes != 80 {
		t.Errorf("%+v", r)
	}
}
