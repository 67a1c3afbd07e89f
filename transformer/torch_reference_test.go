// The PyTorch reference state (llm.c's test_gpt2, for baton): the decoder's
// logits, loss, gradients and 10 AdamW losses on the CPU kernels, checked
// against what scripts/torch_reference.py computed in PyTorch and committed
// under testdata/. CI needs no PyTorch: the committed file is the reference.

package transformer_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"baton/kernels"
	"baton/kernels/cpu"
	"baton/model"
	"baton/transformer"
)

// refFile is a safetensors file as the script writes it: F32, F64 and I32
// tensors by name, and the header's metadata.
type refFile struct {
	path string
	meta map[string]string
	f32  map[string][]float32
	f64  map[string][]float64
	i32  map[string][]int32
	dims map[string][]int
}

func readRef(t *testing.T, path string) *refFile {
	t.Helper()
	buf, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (regenerate with /usr/bin/python3 scripts/torch_reference.py)", err)
	}
	if len(buf) < 8 {
		t.Fatalf("%s: %d bytes, too short for a safetensors file", path, len(buf))
	}
	n := binary.LittleEndian.Uint64(buf)
	if n > uint64(len(buf)-8) {
		t.Fatalf("%s: header of %d bytes in a file of %d", path, n, len(buf))
	}
	var header map[string]json.RawMessage
	if err := json.Unmarshal(buf[8:8+n], &header); err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	data := buf[8+n:]
	r := &refFile{path: path, meta: map[string]string{}, f32: map[string][]float32{}, f64: map[string][]float64{}, i32: map[string][]int32{}, dims: map[string][]int{}}
	for name, raw := range header {
		if name == "__metadata__" {
			if err := json.Unmarshal(raw, &r.meta); err != nil {
				t.Fatalf("%s: metadata: %v", path, err)
			}
			continue
		}
		var e struct {
			DType   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%s: tensor %s: %v", path, name, err)
		}
		if e.Offsets[0] < 0 || e.Offsets[0] > e.Offsets[1] || e.Offsets[1] > len(data) {
			t.Fatalf("%s: tensor %s: offsets %v outside %d bytes of data", path, name, e.Offsets, len(data))
		}
		b := data[e.Offsets[0]:e.Offsets[1]]
		r.dims[name] = e.Shape
		switch e.DType {
		case "F32":
			v := make([]float32, len(b)/4)
			for i := range v {
				v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			}
			r.f32[name] = v
		case "F64":
			v := make([]float64, len(b)/8)
			for i := range v {
				v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
			}
			r.f64[name] = v
		case "I32":
			v := make([]int32, len(b)/4)
			for i := range v {
				v[i] = int32(binary.LittleEndian.Uint32(b[4*i:]))
			}
			r.i32[name] = v
		default:
			t.Fatalf("%s: tensor %s has dtype %s; the reference holds F32, F64 and I32 only", path, name, e.DType)
		}
	}
	return r
}

// Tolerances: |baton - torch| <= atol + rtol·|torch|, element by element.
//
// Both sides compute in float32 from the same float32 weights; they differ
// in summation order only (PyTorch's GEMMs block their dot products their
// own way, baton's kernels theirs; baton reduces LayerNorm, softmax and the
// cross-entropy in float64 where PyTorch stays in float32), and in tanh, exp
// and sqrt implementations a few ulps apart. The weights make every
// activation O(1) (see the script), so errors are float32's 6e-8 unit
// roundoff times sums of C..4C terms through 2 (tiny) or 8 (small) blocks.
// The test log shows, per quantity, its worst element as a fraction of the
// allowance ("worst/allowed"); measured with the AVX2 and the generic
// (BATON_CPU=generic) kernels alike, the worst of all is 0.32, so the
// allowances are about 3× the largest error and ~10× the typical one, while
// a real mistake exceeds them by 100× or more
// (TestTorchReferenceCatchesMutants: GELU's 0.044715 → 0.044 or LayerNorm's
// eps 1e-5 → 1e-4; even 0.044715 → 0.0447 fails, at 3.4×).
var (
	// logits: |logit| up to ~5 after one forward pass; measured worst 0.23
	// (2.9e-6 absolute): a few float32 ulps gathered per layer.
	refLogitsTol = tol{rtol: 1e-5, atol: 1e-5}
	// loss: the mean of B·T per-token losses ~6. baton sums them in float64,
	// PyTorch in float32; rounded to float32 they agree exactly here, and
	// 1e-6 is ~8 float32 ulps of 6.
	refLossTol = tol{rtol: 1e-6, atol: 1e-6}
	// gradients: elements O(1e-4..0.2) at the end of the whole backward
	// pass; measured worst 0.32 (wpe, wte: sums over every use of a token
	// or position). atol covers elements near zero, whose error is set by
	// the size of the terms they sum rather than by their own size.
	refGradTol = tol{rtol: 1e-4, atol: 1e-7}
	// sums of squares of the gradients the small file does not keep whole
	// (blocks 1..L-2): one float64 per tensor of PyTorch's float32 gradient,
	// compared with baton's GradSquares; element errors largely average out
	// in a sum of squares (measured worst 0.054).
	refGsqTol = tol{rtol: 1e-5, atol: 0}
	// the loss before each of 10 AdamW steps: each step's update carries the
	// gradients' relative error (AdamW divides by sqrt(v)+eps), so the two
	// trajectories drift apart a little per step; measured 4.8e-7 at most
	// (worst 0.009), the allowance leaves room for other summation orders.
	refTrainTol = tol{rtol: 1e-5, atol: 1e-5}
)

type tol struct{ rtol, atol float64 }

// referenceAdam is the script's AdamW: lr 1e-3 constant, betas (0.9, 0.95),
// eps 1e-8, weight decay 0.1 on matrices (Stack.Step leaves it off the
// rest), no clipping (gradScale 1).
var referenceAdam = kernels.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}

// refCompare collects what differs from the reference, and a table of how
// close each quantity came to its tolerance.
type refCompare struct {
	fails []string
	table []string
	worst float64 // the largest |diff| / allowed over every comparison
}

// check compares got to want under tl, recording the worst element.
func (c *refCompare) check(what string, got []float32, want []float64, tl tol) {
	if len(got) != len(want) {
		c.fails = append(c.fails, fmt.Sprintf("%s: %d values, the reference has %d", what, len(got), len(want)))
		return
	}
	var worst, maxAbs, scale float64
	wi := 0
	for i := range got {
		d := math.Abs(float64(got[i]) - want[i])
		if math.IsNaN(d) {
			d = math.Inf(1)
		}
		maxAbs = max(maxAbs, d)
		scale = max(scale, math.Abs(want[i]))
		if q := d / (tl.atol + tl.rtol*math.Abs(want[i])); q > worst {
			worst, wi = q, i
		}
	}
	c.table = append(c.table, fmt.Sprintf("%-26s %10.3g %10.2g %8.3f", what, scale, maxAbs, worst))
	c.worst = max(c.worst, worst)
	if worst > 1 {
		c.fails = append(c.fails, fmt.Sprintf("%s: element %d is %.9g, PyTorch %.9g: |diff| %.2g > %.0g + %.0g·|want|",
			what, wi, got[wi], want[wi], math.Abs(float64(got[wi])-want[wi]), tl.atol, tl.rtol))
	}
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// runReference drives a whole-model stack on ops from the reference's
// weights and batch, and compares everything the file holds.
func runReference(t *testing.T, ops kernels.Ops, ref *refFile) *refCompare {
	t.Helper()
	cfg, ok := model.Presets[ref.meta["preset"]]
	if !ok {
		t.Fatalf("%s: preset %q is not one of baton's", ref.path, ref.meta["preset"])
	}
	tokens, targets := ref.i32["tokens"], ref.i32["targets"]
	dims := ref.dims["tokens"]
	if len(dims) != 2 || len(tokens) != dims[0]*dims[1] || len(targets) != len(tokens) {
		t.Fatalf("%s: tokens %v, %d targets", ref.path, dims, len(targets))
	}
	B, T := dims[0], dims[1]
	N := B * T
	stack, err := transformer.NewStack(ops, cfg, transformer.Whole(cfg), B, T)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range stack.P.Specs {
		w, ok := ref.f32["w."+s.Name]
		if !ok || len(w) != s.Elems() {
			t.Fatalf("%s: w.%s has %d values, baton's %v needs %d", ref.path, s.Name, len(w), s.Shape, s.Elems())
		}
		stack.Write(stack.P, i, w)
	}
	c := &refCompare{}

	// Logits: of every sequence (tiny) or the first (small).
	logits := make([]float32, N*cfg.V)
	stack.Logits(tokens, logits)
	want := ref.f32["logits"]
	c.check("logits", logits[:len(want)], widen(want), refLogitsTol)

	// One forward/backward: the loss and every gradient.
	acts := stack.NewActs()
	stack.Forward(acts, 0, tokens, targets, 1/float32(N))
	loss := stack.LossSums(1)[0] / float64(N)
	stack.Backward(acts)
	stack.FoldTiedGrad(nil)
	c.check("loss", []float32{float32(loss)}, widen(ref.f32["loss"]), refLossTol)
	gsq := stack.GradSquares()
	for i, s := range stack.P.Specs {
		if g, ok := ref.f32["g."+s.Name]; ok {
			c.check("g."+s.Name, stack.Read(stack.G, i), widen(g), refGradTol)
			continue
		}
		w, ok := ref.f64["gsq."+s.Name]
		if !ok {
			c.fails = append(c.fails, fmt.Sprintf("%s: neither g.%s nor gsq.%s", ref.path, s.Name, s.Name))
			continue
		}
		c.check("gsq."+s.Name, []float32{float32(gsq[i])}, w, refGsqTol)
	}
	stack.ZeroGrads()

	// 10 AdamW steps: the loss before each update.
	wantLosses := ref.f32["losses"]
	got := make([]float32, len(wantLosses))
	for step := 1; step <= len(wantLosses); step++ {
		stack.Forward(acts, 0, tokens, targets, 1/float32(N))
		got[step-1] = float32(stack.LossSums(1)[0] / float64(N))
		stack.Backward(acts)
		stack.FoldTiedGrad(nil)
		stack.Step(step, referenceAdam, 1)
	}
	c.check("losses (10 AdamW steps)", got, widen(wantLosses), refTrainTol)
	return c
}

func refPath(preset string) string {
	return filepath.Join("testdata", "torch_reference_"+preset+".safetensors")
}

func TestTorchReference(t *testing.T) {
	for _, preset := range []string{"tiny", "small"} {
		t.Run(preset, func(t *testing.T) {
			if preset == "small" && testing.Short() {
				t.Skip("small: ~10 s of CPU; -short runs tiny only")
			}
			ref := readRef(t, refPath(preset))
			t.Logf("reference: torch %s, %s; grads: %s", ref.meta["torch_version"], ref.meta["command"], ref.meta["grads"])
			c := runReference(t, cpu.New(), ref)
			t.Logf("%-26s %10s %10s %8s", "quantity", "max|want|", "max|diff|", "worst/allowed")
			for _, line := range c.table {
				t.Log(line)
			}
			t.Logf("worst of all: %.3f of its allowance", c.worst)
			for _, f := range c.fails {
				t.Error(f)
			}
		})
	}
}

// geluMutant is the CPU backend with GELU's cubic coefficient 0.044 for
// 0.044715 in the forward pass only: a typo-sized mistake.
type geluMutant struct{ *cpu.Ops }

func (geluMutant) GeluForward(out, inp kernels.Buffer, N int) {
	o, x := cpu.Floats(out)[:N], cpu.Floats(inp)[:N]
	for i, v := range x {
		u := 0.7978845608028654 * (float64(v) + 0.044*float64(v)*float64(v)*float64(v))
		o[i] = float32(0.5 * float64(v) * (1 + math.Tanh(u)))
	}
}

// lnEpsMutant is the CPU backend with LayerNorm's eps 1e-4 for GPT-2's 1e-5
// in the forward pass (the backward reads the saved rstd, so it follows).
type lnEpsMutant struct{ *cpu.Ops }

func (lnEpsMutant) LayerNormForward(out, mean, rstd, inp, w, b kernels.Buffer, N, C int) {
	o, mu, rs, x, wv, bv := cpu.Floats(out), cpu.Floats(mean), cpu.Floats(rstd), cpu.Floats(inp), cpu.Floats(w), cpu.Floats(b)
	for n := 0; n < N; n++ {
		row := x[n*C : (n+1)*C]
		var m, ss float64
		for _, v := range row {
			m += float64(v)
		}
		m /= float64(C)
		for _, v := range row {
			ss += (float64(v) - m) * (float64(v) - m)
		}
		r := 1 / math.Sqrt(ss/float64(C)+1e-4)
		for i, v := range row {
			o[n*C+i] = float32((float64(v)-m)*r)*wv[i] + bv[i]
		}
		mu[n], rs[n] = float32(m), float32(r)
	}
}

// TestTorchReferenceCatchesMutants shows the reference has teeth: each
// mutant backend, one constant off, fails the comparison on tiny.
func TestTorchReferenceCatchesMutants(t *testing.T) {
	ref := readRef(t, refPath("tiny"))
	for _, m := range []struct {
		name string
		ops  kernels.Ops
	}{
		{"gelu 0.044", geluMutant{cpu.New()}},
		{"layernorm eps 1e-4", lnEpsMutant{cpu.New()}},
	} {
		c := runReference(t, m.ops, ref)
		if len(c.fails) == 0 {
			t.Errorf("mutant %s passes the reference: its tolerances are too loose", m.name)
			continue
		}
		var names []string
		for _, f := range c.fails {
			names = append(names, f[:strings.Index(f, ":")])
		}
		sort.Strings(names)
		t.Logf("mutant %s fails %d of the comparisons (worst at %.1f× its allowance): %s; first: %s", m.name, len(c.fails), c.worst, strings.Join(names, ", "), c.fails[0])
	}
}
