//go:build !cuda

// gorgonia has a "cuda" build tag of its own that needs cuDNN and links
// cuBLAS, so the oracle runs in the default build only: it checks the
// transformer on the CPU backend, which the cuda build does not change.

// Reference tests of the decoder's math (DESIGN.md, testing level 1): a whole
// decoder checked against gorgonia's autodiff in float64 (itself checked
// against central finite differences), and two training-level properties of
// a Stack: it can overfit one batch, and a seed fixes its losses bit for bit.

package transformer_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"baton/kernels"
	"baton/kernels/cpu"
	"baton/model"
	"baton/transformer"
)

// oracle is the decoder built a second time, in gorgonia, in float64, from
// nothing but the model's definition: one-hot embedding lookups, pre-LN
// blocks with causal multi-head attention and a tanh-GELU MLP, the final
// LayerNorm, the LM head tied to wte, and the mean cross-entropy.
type oracle struct {
	cfg             model.Config
	B, T            int
	tokens, targets []int32
}

// eval returns the mean loss and, when grads, the loss gradient of every
// tensor by name. It builds a fresh ExprGraph on every call: re-running one
// TapeMachine does not reproduce its forward values.
func (o *oracle) eval(params map[string][]float64, grads bool) (float64, map[string][]float64) {
	cfg, B, T := o.cfg, o.B, o.T
	N, C, V, NH := B*T, cfg.C, cfg.V, cfg.NH
	hs := C / NH
	g := G.NewGraph()
	mat := func(name string, r, c int, v []float64) *G.Node {
		return G.NewMatrix(g, tensor.Float64, G.WithShape(r, c), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(r, c), tensor.WithBacking(append([]float64(nil), v...)))))
	}
	vec := func(name string, n int, v []float64) *G.Node {
		return G.NewVector(g, tensor.Float64, G.WithShape(n), G.WithName(name),
			G.WithValue(tensor.New(tensor.WithShape(n), tensor.WithBacking(append([]float64(nil), v...)))))
	}
	k := G.NewConstant
	must := G.Must

	// Parameters, in layout order, as variables of the graph.
	var wrt G.Nodes
	nodes := map[string]*G.Node{}
	for _, s := range cfg.AllTensors() {
		var n *G.Node
		if len(s.Shape) == 2 {
			n = mat(s.Name, s.Shape[0], s.Shape[1], params[s.Name])
		} else {
			n = vec(s.Name, s.Shape[0], params[s.Name])
		}
		nodes[s.Name] = n
		wrt = append(wrt, n)
	}
	p := func(l int, name string) *G.Node { return nodes[fmt.Sprintf("h.%d.%s", l, name)] }

	// Constant inputs: one-hot tokens (N,V), positions (N,MaxT), targets
	// (N,V); the additive causal mask (B,T,T); column selectors that cut
	// head h's part of q, k or v out of qkv (3C,hs) and put a head's output
	// back in its columns (hs,C).
	onehot := func(name string, ids func(i int) int, width int) *G.Node {
		v := make([]float64, N*width)
		for i := 0; i < N; i++ {
			v[i*width+ids(i)] = 1
		}
		return mat(name, N, width, v)
	}
	X := onehot("tokens", func(i int) int { return int(o.tokens[i]) }, V)
	P := onehot("positions", func(i int) int { return i % T }, cfg.MaxT)
	Y := onehot("targets", func(i int) int { return int(o.targets[i]) }, V)
	maskv := make([]float64, B*T*T)
	for b := 0; b < B; b++ {
		for i := 0; i < T; i++ {
			for j := i + 1; j < T; j++ {
				maskv[(b*T+i)*T+j] = -1e9 // exp(-1e9 - max) is exactly 0 in float64
			}
		}
	}
	mask := G.NewTensor(g, tensor.Float64, 3, G.WithShape(B, T, T), G.WithName("mask"),
		G.WithValue(tensor.New(tensor.WithShape(B, T, T), tensor.WithBacking(maskv))))
	sel := func(part, h int) *G.Node { // (3C,hs): qkv @ sel = part (0 q, 1 k, 2 v) of head h
		v := make([]float64, 3*C*hs)
		for j := 0; j < hs; j++ {
			v[(part*C+h*hs+j)*hs+j] = 1
		}
		return mat(fmt.Sprintf("sel%d_%d", part, h), 3*C, hs, v)
	}
	place := func(h int) *G.Node { // (hs,C): y_h @ place = y_h in head h's columns
		v := make([]float64, hs*C)
		for j := 0; j < hs; j++ {
			v[j*C+h*hs+j] = 1
		}
		return mat(fmt.Sprintf("place%d", h), hs, C, v)
	}

	// layerNorm: (x - mean) / sqrt(var + 1e-5) * w + b, biased variance.
	layerNorm := func(x, w, b *G.Node) *G.Node {
		mean := must(G.Mean(x, 1))
		xc := must(G.BroadcastSub(x, mean, nil, []byte{1}))
		vr := must(G.Mean(must(G.Square(xc)), 1))
		std := must(G.Sqrt(must(G.Add(vr, k(1e-5)))))
		norm := must(G.BroadcastHadamardDiv(xc, std, nil, []byte{1}))
		return must(G.BroadcastAdd(must(G.BroadcastHadamardProd(norm, w, nil, []byte{0})), b, nil, []byte{0}))
	}
	// linear: x (N,in) @ w (in,out) + b (out).
	linear := func(x, w, b *G.Node) *G.Node {
		return must(G.BroadcastAdd(must(G.Mul(x, w)), b, nil, []byte{0}))
	}
	// gelu: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))).
	gelu := func(x *G.Node) *G.Node {
		x3 := must(G.HadamardProd(x, must(G.HadamardProd(x, x))))
		u := must(G.Mul(must(G.Add(x, must(G.Mul(x3, k(0.044715))))), k(math.Sqrt(2/math.Pi))))
		return must(G.HadamardProd(must(G.Mul(x, k(0.5))), must(G.Add(must(G.Tanh(u)), k(1.0)))))
	}
	// attention: causal multi-head attention of qkv (N,3C) → (N,C).
	scale := 1 / math.Sqrt(float64(hs))
	attention := func(qkv *G.Node) *G.Node {
		var y *G.Node
		for h := 0; h < NH; h++ {
			part := func(i int) *G.Node {
				return must(G.Reshape(must(G.Mul(qkv, sel(i, h))), tensor.Shape{B, T, hs}))
			}
			q, kk, v := part(0), part(1), part(2)
			att := must(G.Mul(must(G.BatchedMatMul(q, kk, false, true)), k(scale))) // (B,T,T)
			pr := must(G.SoftMax(must(G.Add(att, mask)), 2))
			yh := must(G.Reshape(must(G.BatchedMatMul(pr, v)), tensor.Shape{N, hs}))
			yh = must(G.Mul(yh, place(h))) // (N,C)
			if y == nil {
				y = yh
			} else {
				y = must(G.Add(y, yh))
			}
		}
		return y
	}

	x := must(G.Add(must(G.Mul(X, nodes["wte.weight"])), must(G.Mul(P, nodes["wpe.weight"])))) // (N,C)
	for l := 0; l < cfg.L; l++ {
		qkv := linear(layerNorm(x, p(l, "ln_1.weight"), p(l, "ln_1.bias")), p(l, "attn.c_attn.weight"), p(l, "attn.c_attn.bias"))
		x = must(G.Add(x, linear(attention(qkv), p(l, "attn.c_proj.weight"), p(l, "attn.c_proj.bias"))))
		fc := linear(layerNorm(x, p(l, "ln_2.weight"), p(l, "ln_2.bias")), p(l, "mlp.c_fc.weight"), p(l, "mlp.c_fc.bias"))
		x = must(G.Add(x, linear(gelu(fc), p(l, "mlp.c_proj.weight"), p(l, "mlp.c_proj.bias"))))
	}
	lnf := layerNorm(x, nodes["ln_f.weight"], nodes["ln_f.bias"])
	logits := must(G.Mul(lnf, must(G.Transpose(nodes["wte.weight"])))) // (N,V), tied head
	lse := must(G.Log(must(G.Sum(must(G.Exp(logits)), 1))))            // (N)
	logp := must(G.BroadcastSub(logits, lse, nil, []byte{1}))
	loss := must(G.Mul(must(G.Sum(must(G.HadamardProd(logp, Y)))), k(-1/float64(N))))

	var m G.VM
	if grads {
		if _, err := G.Grad(loss, wrt...); err != nil {
			panic(err)
		}
		m = G.NewTapeMachine(g, G.BindDualValues(wrt...))
	} else {
		m = G.NewTapeMachine(g)
	}
	defer m.Close()
	if err := m.RunAll(); err != nil {
		panic(err)
	}
	lv := loss.Value().Data().(float64)
	if !grads {
		return lv, nil
	}
	out := map[string][]float64{}
	for name, n := range nodes {
		gv, err := n.Grad()
		if err != nil {
			panic(fmt.Sprintf("gradient of %s: %v", name, err))
		}
		out[name] = append([]float64(nil), gv.Data().([]float64)...)
	}
	return lv, out
}

// Float32 tolerances against the float64 oracle: |got - want| <= atol + rtol·|want|.
//
// baton computes in float32 (unit roundoff 6e-8) with float64 reductions in
// LayerNorm, softmax and cross-entropy. The gradients here are O(1e-2..0.5)
// and pass through some 30 ops; the errors measured over eight random
// parameter draws are at most 2e-7 absolute, and the worst element used 13%
// of the allowance below (the table in the test log shows it per tensor).
// rtol 1e-4 is about 1000 float32 ulps of the element itself; atol 1e-6
// covers elements near zero, whose error is set by the size of the terms
// they sum rather than by their own size: the key part of attn.c_attn.bias
// has an exact gradient of 0 (softmax ignores a per-query constant) and
// baton's is ~5e-8. The loss differs by at most 1.3e-7. Real mistakes are
// far outside this: LayerNorm eps 1e-4 instead of 1e-5 moves gradients by
// 4e-4, GELU's 0.044715 → 0.04 by 5e-4, a 0.1% change to one term of the
// LayerNorm backward by 1e-4 — all caught; a wrong attention scale, mask or
// missing tied-gradient term moves them by O(0.1).
const (
	gradRtol = 1e-4
	gradAtol = 1e-6
	lossTol  = 1e-6 // on a loss of ~2.5
)

func TestDecoderMatchesGorgonia(t *testing.T) {
	// Odd sizes; MaxT > T leaves unused positions. "odd widths" is C and
	// the heads (3) that no SIMD width divides, so that every row of the
	// vector kernels ends in a tail.
	for name, cfg := range map[string]model.Config{
		"C=8":        {V: 11, MaxT: 7, C: 8, NH: 2, L: 2},
		"odd widths": {V: 11, MaxT: 7, C: 9, NH: 3, L: 2},
	} {
		t.Run(name, func(t *testing.T) { testDecoderMatchesGorgonia(t, cfg) })
	}
}

func testDecoderMatchesGorgonia(t *testing.T, cfg model.Config) {
	const B, T = 2, 5
	N := B * T
	r := rand.New(rand.NewPCG(1, 2))

	// Parameters: N(0, 0.3) for every matrix, N(0, 0.1) for biases, 1 ± 0.1
	// for LayerNorm gains, so that every path carries signal. They are
	// float32 values; the oracle reads the same numbers exactly in float64.
	vals32 := map[string][]float32{}
	vals64 := map[string][]float64{}
	for _, s := range cfg.AllTensors() {
		v := make([]float32, s.Elems())
		for i := range v {
			switch {
			case s.Decay:
				v[i] = float32(0.3 * r.NormFloat64())
			case strings.Contains(s.Name, "ln_") && strings.HasSuffix(s.Name, ".weight"):
				v[i] = float32(1 + 0.1*r.NormFloat64())
			default:
				v[i] = float32(0.1 * r.NormFloat64())
			}
		}
		vals32[s.Name] = v
		vals64[s.Name] = make([]float64, len(v))
		for i, x := range v {
			vals64[s.Name][i] = float64(x)
		}
	}
	tokens, targets := make([]int32, N), make([]int32, N)
	for i := range tokens {
		tokens[i], targets[i] = int32(r.IntN(cfg.V)), int32(r.IntN(cfg.V))
	}
	tokens[1] = tokens[7] // a repeated token: its dwte row sums two embedding terms

	// The oracle.
	o := &oracle{cfg: cfg, B: B, T: T, tokens: tokens, targets: targets}
	wantLoss, want := o.eval(vals64, true)

	// The oracle itself against central finite differences in float64.
	// With h = 1e-5 the truncation error (h²·f''' ~ 1e-10) and the rounding
	// error (1e-16·loss/h ~ 1e-11) are far below the 1e-7 allowed.
	const h = 1e-5
	var fdWorst float64
	for _, name := range []string{"wte.weight", "wpe.weight", "h.0.ln_1.weight", "h.0.attn.c_attn.weight",
		"h.0.attn.c_proj.bias", "h.1.ln_2.bias", "h.1.mlp.c_fc.weight", "h.1.mlp.c_proj.weight", "ln_f.weight"} {
		for range 2 {
			v := vals64[name]
			i := r.IntN(len(v))
			if name == "wpe.weight" {
				i = r.IntN(T * cfg.C) // a used position
			}
			old := v[i]
			v[i] = old + h
			lp, _ := o.eval(vals64, false)
			v[i] = old - h
			lm, _ := o.eval(vals64, false)
			v[i] = old
			fd := (lp - lm) / (2 * h)
			fdWorst = max(fdWorst, math.Abs(fd-want[name][i]))
			if d := math.Abs(fd - want[name][i]); d > 1e-7+1e-6*math.Abs(fd) {
				t.Errorf("oracle: d loss/d %s[%d] = %.9g by autodiff, %.9g by finite differences (diff %.2g)", name, i, want[name][i], fd, d)
			}
		}
	}

	t.Logf("oracle vs finite differences: worst |diff| %.2g over 18 elements", fdWorst)

	// baton.
	stack, err := transformer.NewStack(cpu.New(), cfg, transformer.Whole(cfg), B, T)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(stack.P.Specs); n != 2+model.NumBlockTensors*cfg.L+2 {
		t.Fatalf("the whole stack holds %d tensors, want %d", n, 2+model.NumBlockTensors*cfg.L+2)
	}
	for i, s := range stack.P.Specs {
		stack.Write(stack.P, i, vals32[s.Name])
	}
	acts := stack.NewActs()
	stack.Forward(acts, 0, tokens, targets, 1/float32(N))
	loss := stack.LossSums(1)[0] / float64(N)
	stack.Backward(acts)
	stack.FoldTiedGrad(nil)

	if d := math.Abs(loss - wantLoss); d > lossTol {
		t.Errorf("loss %.9f, gorgonia %.9f (diff %.2g > %.0g)", loss, wantLoss, d, lossTol)
	}
	t.Logf("loss %.9f, gorgonia %.9f, diff %.2g", loss, wantLoss, math.Abs(loss-wantLoss))
	t.Logf("%-24s %10s %10s %10s %s", "tensor", "max|grad|", "max abs", "max rel", "worst/allowed")
	for i, s := range stack.P.Specs {
		got, w := stack.Read(stack.G, i), want[s.Name]
		var maxAbs, maxRel, scale, worst float64
		wi := 0
		for j := range got {
			d := math.Abs(float64(got[j]) - w[j])
			maxAbs = max(maxAbs, d)
			scale = max(scale, math.Abs(w[j]))
			if w[j] != 0 {
				maxRel = max(maxRel, d/math.Abs(w[j]))
			}
			if q := d / (gradAtol + gradRtol*math.Abs(w[j])); q > worst {
				worst, wi = q, j
			}
		}
		t.Logf("%-24s %10.3g %10.2g %10.2g %.3f", s.Name, scale, maxAbs, maxRel, worst)
		if worst > 1 {
			t.Errorf("d loss/d %s: element %d (of shape %v) is %.9g, gorgonia %.9g: |diff| %.2g > %.0g + %.0g·|want|",
				s.Name, wi, s.Shape, got[wi], w[wi], math.Abs(float64(got[wi])-w[wi]), gradAtol, gradRtol)
		}
	}
	// Positions past T take no part: their gradient is exactly zero.
	dwpe := stack.Read(stack.G, stack.P.Index("wpe.weight"))
	for j := T * cfg.C; j < len(dwpe); j++ {
		if dwpe[j] != 0 {
			t.Errorf("d loss/d wpe.weight[%d] (position %d >= T=%d) is %g, want 0", j, j/cfg.C, T, dwpe[j])
		}
	}
}

// batch returns a fixed random batch: B sequences of T+1 random tokens, as
// inputs and next-token targets. It depends on seed only, never on a model.
func batch(V, B, T int, seed uint64) (tokens, targets []int32) {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	for b := 0; b < B; b++ {
		seq := make([]int32, T+1)
		for i := range seq {
			seq[i] = int32(r.IntN(V))
		}
		tokens = append(tokens, seq[:T]...)
		targets = append(targets, seq[1:]...)
	}
	return tokens, targets
}

// train runs steps AdamW steps of the whole tiny model, initialised from
// seed, on one fixed batch, and returns the loss of each step (before its
// update) and the loss after the last update.
func train(t *testing.T, seed uint64, steps int, hp kernels.AdamParams) (losses []float64, final float64) {
	t.Helper()
	cfg := model.Presets["tiny"]
	const B, T = 4, 16
	stack, err := transformer.NewStack(cpu.New(), cfg, transformer.Whole(cfg), B, T)
	if err != nil {
		t.Fatal(err)
	}
	stack.Init(seed)
	tokens, targets := batch(cfg.V, B, T, 42)
	acts := stack.NewActs()
	for step := 1; step <= steps; step++ {
		stack.Forward(acts, 0, tokens, targets, 1/float32(B*T))
		losses = append(losses, stack.LossSums(1)[0]/(B*T))
		stack.Backward(acts)
		stack.FoldTiedGrad(nil)
		stack.Step(step, hp, 1)
	}
	stack.Forward(acts, 0, tokens, targets, 0) // evaluation only
	return losses, stack.LossSums(1)[0] / (B * T)
}

// overfitParams: a high learning rate is what memorising 64 random tokens
// in 50 steps takes; no weight decay, so nothing pulls against it.
var overfitParams = kernels.AdamParams{LR: 1e-2, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0}

func TestOverfitOneBatch(t *testing.T) {
	losses, final := train(t, 1, 50, overfitParams)
	if d := math.Abs(losses[0] - math.Log(256)); d > 0.1 {
		t.Errorf("initial loss %.4f, want about ln(256) = %.4f: GPT-2 init gives near-uniform logits", losses[0], math.Log(256))
	}
	t.Logf("loss: step 1 %.4f, 10 %.4f, 25 %.4f, 50 %.4f, after the last update %.5f", losses[0], losses[9], losses[24], losses[49], final)
	if final > 0.1 {
		t.Errorf("after 50 AdamW steps on one batch the loss is %.4f, want < 0.1 (losses %.3f)", final, losses)
	}
}

func TestSameSeedSameLosses(t *testing.T) {
	hp := kernels.AdamParams{LR: 1e-3, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}
	a, _ := train(t, 7, 20, hp)
	b, _ := train(t, 7, 20, hp)
	c, _ := train(t, 8, 20, hp)
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			t.Errorf("seed 7 twice: step %d losses %.17g and %.17g differ", i+1, a[i], b[i])
		}
	}
	for _, i := range []int{0, len(a) - 1} {
		if a[i] == c[i] {
			t.Errorf("seeds 7 and 8: step %d losses are both %.17g; a seed must change the weights", i+1, a[i])
		}
	}
}
