// The BF16 preset: a backend that stores in bf16 and computes in float32 passes it (the
// CPU backend with its outputs rounded to bf16), and one with a real bf16 bug fails it.

package kernelstest

import (
	"strings"
	"testing"

	"baton/kernels"
	"baton/kernels/cpu"
)

// roundOut rounds b's contents to bf16 in place: what bf16 storage does to an output.
func roundOut(o kernels.Ops, b kernels.Buffer) {
	h := make([]float32, b.Len())
	o.Download(h, b)
	o.Upload(b, RoundBF16s(h))
}

// bf16Stored is the CPU backend with the outputs of some ops stored as a bf16 backend
// stores them: computed in float32, then each rounded once to bf16.
type bf16Stored struct{ kernels.Ops }

func (m bf16Stored) GeluForward(out, inp kernels.Buffer, N int) {
	m.Ops.GeluForward(out, inp, N)
	roundOut(m, out)
}

func (m bf16Stored) ResidualForward(out, a, b kernels.Buffer, N int) {
	m.Ops.ResidualForward(out, a, b, N)
	roundOut(m, out)
}

func (m bf16Stored) BiasBackward(dbias, dout kernels.Buffer, N, OC int) {
	m.Ops.BiasBackward(dbias, dout, N, OC)
	roundOut(m, dbias)
}

func (m bf16Stored) LayerNormForward(out, mean, rstd, inp, w, b kernels.Buffer, N, C int) {
	m.Ops.LayerNormForward(out, mean, rstd, inp, w, b, N, C)
	roundOut(m, out)
}

// ResidualLayerNormForward as a bf16 backend computes it: the sums rounded to bf16 as
// they are stored, and the LayerNorm of those rounded sums.
func (m bf16Stored) ResidualLayerNormForward(res, out, mean, rstd, a, b, w, bias kernels.Buffer, N, C int) {
	m.ResidualForward(res, a, b, N*C)
	m.LayerNormForward(out, mean, rstd, res, w, bias, N, C)
}

func (m bf16Stored) LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd kernels.Buffer, N, C int) {
	m.Ops.LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd, N, C)
	roundOut(m, dinp)
	roundOut(m, dw)
	roundOut(m, db)
}

func (m bf16Stored) CrossEntropyForwardBackward(losses, dlogits, logits, targets kernels.Buffer, N, V int, dscale float32) {
	m.Ops.CrossEntropyForwardBackward(losses, dlogits, logits, targets, N, V, dscale)
	roundOut(m, dlogits)
}

// Each mutant is a bf16 kernel with one bug of the kind bf16 code invites.
type (
	// A constant off by one bf16 epsilon (a scale rounded to bf16 where it must not be).
	bf16GeluScale struct{ bf16Stored }
	// A vectorised loop that leaves the last element (the tail past the packs) undone.
	bf16ResidualDropsLast struct{ bf16Stored }
	// The column sums accumulated in bf16, not float32.
	bf16BiasSumsInBF16 struct{ bf16Stored }
	// LayerNorm's statistics stored in bf16, not float32 (kernels.Exact).
	bf16LayerNormStats struct{ bf16Stored }
	// A fused residual + LayerNorm that normalises the float32 sums it had in
	// registers, not the bf16 sums it stored (the unfused LayerNorm reads those).
	bf16FusedStatsUnrounded struct{ bf16Stored }
)

func (m bf16GeluScale) GeluForward(out, inp kernels.Buffer, N int) {
	m.Ops.GeluForward(out, inp, N)
	h := make([]float32, N)
	m.Download(h, out)
	for i := range h {
		h[i] *= 1 + BF16Eps
	}
	m.Upload(out, RoundBF16s(h))
}

func (m bf16ResidualDropsLast) ResidualForward(out, a, b kernels.Buffer, N int) {
	if N > 1 {
		m.bf16Stored.ResidualForward(m.Slice(out, 0, N-1), m.Slice(a, 0, N-1), m.Slice(b, 0, N-1), N-1)
	}
}

func (m bf16BiasSumsInBF16) BiasBackward(dbias, dout kernels.Buffer, N, OC int) {
	d, db := make([]float32, N*OC), make([]float32, OC)
	m.Download(d, m.Slice(dout, 0, N*OC))
	m.Download(db, m.Slice(dbias, 0, OC))
	for j := range db {
		var s float32
		for n := 0; n < N; n++ {
			s = RoundBF16(s + d[n*OC+j])
		}
		db[j] = RoundBF16(db[j] + s)
	}
	m.Upload(m.Slice(dbias, 0, OC), db)
}

func (m bf16LayerNormStats) LayerNormForward(out, mean, rstd, inp, w, b kernels.Buffer, N, C int) {
	m.bf16Stored.LayerNormForward(out, mean, rstd, inp, w, b, N, C)
	roundOut(m, mean)
	roundOut(m, rstd)
}

func (m bf16FusedStatsUnrounded) ResidualLayerNormForward(res, out, mean, rstd, a, b, w, bias kernels.Buffer, N, C int) {
	m.Ops.ResidualLayerNormForward(res, out, mean, rstd, a, b, w, bias, N, C)
	roundOut(m, res)
	roundOut(m, out)
}

// failures runs the cases of one op group under tol on o and returns the failure
// messages (all cases when all is set, else up to the first failing case).
func failures(t *testing.T, o kernels.Ops, tol Tolerances, name string, all bool) []string {
	t.Helper()
	var g *group
	for _, gr := range groups(tol) {
		if gr.name == name {
			g = &gr
		}
	}
	if g == nil {
		t.Fatalf("no group %s", name)
	}
	rec := &recorder{TB: t}
	for _, c := range g.cases {
		res, ok := call(rec, o, c)
		if ok {
			for i := range res {
				res[i].check(rec, "float64 reference")
			}
		}
		if len(rec.errs) > 0 && !all {
			break
		}
	}
	return rec.errs
}

// TestBF16PassesRoundedOutputs: outputs stored in bf16 (each rounded once, errors of up
// to 1.2e-2 of the tensor's or row's scale here) pass the BF16 preset, while the FP32
// preset, which does not allow the rounding, fails them: the preset is as loose as bf16
// storage needs and no looser.
func TestBF16PassesRoundedOutputs(t *testing.T) {
	o := bf16Stored{cpu.New()}
	for _, g := range []string{"GeluForward", "ResidualForward", "BiasBackward", "LayerNormForward", "ResidualLayerNormForward", "LayerNormBackward", "CrossEntropyForwardBackward"} {
		t.Run(g, func(t *testing.T) {
			if errs := failures(t, o, BF16, g, true); len(errs) > 0 {
				t.Errorf("the BF16 preset fails float32 results rounded once to bf16 (%d failures); first:\n%s", len(errs), errs[0])
			}
			if errs := failures(t, o, FP32, g, false); len(errs) == 0 {
				t.Errorf("the FP32 preset passes outputs rounded to bf16")
			}
		})
	}
}

// TestBF16Mutants: every bf16 mutant fails the BF16 preset, with a message naming the
// tensor and the worst element.
func TestBF16Mutants(t *testing.T) {
	base := bf16Stored{cpu.New()}
	for _, mt := range []struct {
		group string
		ops   kernels.Ops
		want  string // in some failure message
	}{
		{"GeluForward", bf16GeluScale{base}, "out (7): error"},
		{"ResidualForward", bf16ResidualDropsLast{base}, "NaN or Inf"},
		{"BiasBackward", bf16BiasSumsInBF16{base}, "dbias (OC="},
		{"LayerNormForward", bf16LayerNormStats{base}, "rstd (N="},
		{"ResidualLayerNormForward", bf16FusedStatsUnrounded{base}, "differ from the unfused ops'"},
	} {
		t.Run(mt.group, func(t *testing.T) {
			errs := failures(t, mt.ops, BF16, mt.group, false)
			if len(errs) == 0 {
				t.Fatalf("the BF16 preset passed a backend whose bf16 %s is broken", mt.group)
			}
			if all := strings.Join(errs, "\n"); !strings.Contains(all, mt.want) {
				t.Errorf("no failure message mentions %q; first:\n%s", mt.want, errs[0])
			}
			t.Logf("first message:\n%s", errs[0])
		})
	}
}

// TestBF16OnCPU runs the suite's BF16 machinery (buffers by role, inputs rounded in
// place before the references see them, bf16-representable guards) on the CPU backend,
// whose AllocAs is float32 for every role: it must pass as under FP32.
func TestBF16OnCPU(t *testing.T) {
	Run(t, func() kernels.Ops { return cpu.New() }, BF16)
}
