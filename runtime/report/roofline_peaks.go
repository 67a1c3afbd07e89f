// What each GPU allows: dense matrix throughput per precision, vector throughput and memory bandwidth, by the driver's name for the GPU.

package report

import (
	"strings"

	"baton/model"
)

// Peak is one GPU model's datasheet limits, dense (no sparsity).
type Peak struct {
	Name      string             `json:"name"`
	MatMul    map[string]float64 `json:"-"` // FLOP/s of the tensor cores per precision ("tf32", "bf16")
	Vector    float64            `json:"-"` // FLOP/s of the fp32 CUDA cores: element-wise kernels, and GEMMs in fp32
	Bandwidth float64            `json:"-"` // bytes/s of device memory
	match     []string           // every one is in the driver's name
	except    []string           // none is: variants with other clocks or memory
}

// peaks are the GPUs baton knows. The H200 has the H100's SMs and clocks
// with faster memory; PCIe and NVL variants run lower clocks and are left
// out rather than given the SXM figures.
var peaks = []Peak{
	{Name: "H100 SXM", match: []string{"H100"}, except: []string{"PCIe", "NVL"},
		MatMul: map[string]float64{"tf32": 494.7e12, "bf16": 989.4e12}, Vector: 67e12, Bandwidth: 3.35e12},
	{Name: "H200", match: []string{"H200"}, except: []string{"NVL"},
		MatMul: map[string]float64{"tf32": 494.7e12, "bf16": 989.4e12}, Vector: 67e12, Bandwidth: 4.8e12},
	{Name: "A100 80GB", match: []string{"A100", "80GB"},
		MatMul: map[string]float64{"tf32": 156e12, "bf16": 312e12}, Vector: 19.5e12, Bandwidth: 2.04e12},
}

// PeakOf is the limits of the GPU the driver names gpu ("NVIDIA H100
// 80GB HBM3"); false when baton has no figures for it.
func PeakOf(gpu string) (Peak, bool) {
	has := func(subs []string) bool {
		for _, s := range subs {
			if strings.Contains(gpu, s) {
				return true
			}
		}
		return false
	}
	for _, p := range peaks {
		all := true
		for _, s := range p.match {
			all = all && strings.Contains(gpu, s)
		}
		if all && !has(p.except) {
			return p, true
		}
	}
	return Peak{}, false
}

// Dense is the GPU's dense matrix-multiply peak at precision ("fp32",
// "tf32", "bf16"), the denominator of MFU; 0 when it has no figure.
func (p Peak) Dense(precision string) float64 {
	if precision == "fp32" {
		return p.Vector
	}
	return p.MatMul[precision]
}

// FLOPs is the arithmetic throughput c's kernel can have at precision
// ("fp32", "tf32", "bf16"), 0 when the GPU has no figure for it. In fp32
// the GEMMs run on the CUDA cores and the attention's products as 3xTF32
// on the tensor cores, three products each (kernels.Precision).
func (p Peak) FLOPs(c model.Cost, precision string) float64 {
	switch {
	case !c.MatMul() || precision == "fp32" && c.Op == "Gemm":
		return p.Vector
	case precision == "fp32":
		return p.MatMul["tf32"] / 3
	}
	return p.MatMul[precision]
}

// Bound is the least time c's kernel can take on the GPU at precision and
// what bounds it: "compute" or "memory". ok is false when the GPU has no
// throughput figure for the precision.
func (p Peak) Bound(c model.Cost, precision string) (seconds float64, by string, ok bool) {
	f := p.FLOPs(c, precision)
	if f <= 0 || p.Bandwidth <= 0 {
		return 0, "", false
	}
	compute, memory := c.FLOPs/f, c.Bytes/p.Bandwidth
	if compute >= memory {
		return compute, "compute", true
	}
	return memory, "memory", true
}
