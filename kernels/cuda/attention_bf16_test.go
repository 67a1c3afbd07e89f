//go:build cuda

// Tests of the bf16 attention kernels (attention_*_hs<N>_bf16: bf16 qkv, out, dout and
// dqkv, float32 lse; bf16 mma.m16n8k16 products summed in float32) against the CPU
// backend fed the same bf16-rounded inputs and computing in float32.

package cuda

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"baton/kernels"
	"baton/kernels/cpu"
	"baton/kernels/kernelstest"
)

// attnMagnitudes holds, per element of out (B,T,C) and of dqkv (B,T,3C), the sum of
// the magnitudes of the terms the kernels round to bf16 on the way: Σ_j P_ij |v_jd| for
// out, Σ_j |dS_ij| |k_jd| for dq, Σ_i |dS_ij| |q_id| for dk, Σ_i P_ij |dO_id| for dv,
// with P = exp(scale q·k - lse) and dS = P (dO·v - dO·out) scale in float64 (causal);
// and in fDqkv the magnitudes that float32 sums err on, where they are larger: dS's
// difference dO·v - D cancels, so its float32 error is of P (|dO|·|v| + |dO|·|out|)
// scale, not of |dS|.
func attnMagnitudes(qkv, out, dout []float32, B, T, C, NH int) (mOut, mDqkv, fDqkv []float64) {
	hs := C / NH
	scale := 1 / math.Sqrt(float64(hs))
	mOut, mDqkv, fDqkv = make([]float64, B*T*C), make([]float64, B*T*3*C), make([]float64, B*T*3*C)
	P, dS, fS := make([]float64, T*T), make([]float64, T*T), make([]float64, T*T)
	for b := range B {
		for h := range NH {
			q := func(t, d int) float64 { return float64(qkv[(b*T+t)*3*C+h*hs+d]) }
			k := func(t, d int) float64 { return float64(qkv[(b*T+t)*3*C+C+h*hs+d]) }
			v := func(t, d int) float64 { return float64(qkv[(b*T+t)*3*C+2*C+h*hs+d]) }
			do := func(t, d int) float64 { return float64(dout[(b*T+t)*C+h*hs+d]) }
			for i := range T {
				mx, s := math.Inf(-1), make([]float64, i+1)
				for j := 0; j <= i; j++ {
					for d := range hs {
						s[j] += q(i, d) * k(j, d)
					}
					s[j] *= scale
					mx = math.Max(mx, s[j])
				}
				var l, D, aD float64
				for j := 0; j <= i; j++ {
					l += math.Exp(s[j] - mx)
				}
				for d := range hs {
					D += do(i, d) * float64(out[(b*T+i)*C+h*hs+d])
					aD += math.Abs(do(i, d) * float64(out[(b*T+i)*C+h*hs+d]))
				}
				for j := 0; j <= i; j++ {
					var dp, adp float64
					for d := range hs {
						dp += do(i, d) * v(j, d)
						adp += math.Abs(do(i, d) * v(j, d))
					}
					P[i*T+j] = math.Exp(s[j]-mx) / l
					dS[i*T+j] = P[i*T+j] * (dp - D) * scale
					fS[i*T+j] = P[i*T+j] * (adp + aD) * scale
				}
			}
			for i := range T {
				for d := range hs {
					var mo, mq, fq float64
					for j := 0; j <= i; j++ {
						mo += P[i*T+j] * math.Abs(v(j, d))
						mq += math.Abs(dS[i*T+j]) * math.Abs(k(j, d))
						fq += fS[i*T+j] * math.Abs(k(j, d))
					}
					mOut[(b*T+i)*C+h*hs+d] = mo
					mDqkv[(b*T+i)*3*C+h*hs+d] = mq
					fDqkv[(b*T+i)*3*C+h*hs+d] = fq
				}
			}
			for j := range T {
				for d := range hs {
					var mk, mv, fk float64
					for i := j; i < T; i++ {
						mk += math.Abs(dS[i*T+j]) * math.Abs(q(i, d))
						mv += P[i*T+j] * math.Abs(do(i, d))
						fk += fS[i*T+j] * math.Abs(q(i, d))
					}
					mDqkv[(b*T+j)*3*C+C+h*hs+d] = mk
					mDqkv[(b*T+j)*3*C+2*C+h*hs+d] = mv
					fDqkv[(b*T+j)*3*C+C+h*hs+d] = fk
					fDqkv[(b*T+j)*3*C+2*C+h*hs+d] = mv
				}
			}
		}
	}
	return mOut, mDqkv, fDqkv
}

// bf16Tol is the error allowed where the kernels round once to bf16 (half an epsilon
// of the value, ε/2 |want|) after products whose one operand was rounded to bf16 (P
// or dS: at most ε/2 of each term, so ε/2 of the terms' magnitudes m), with ε² of
// those and of f, the magnitudes float32's sums err on (the CPU's and the tensor
// cores', in their orders: at most about (hs + T)·2^-24 of them, below ε² = 2^-14).
func bf16Tol(want float32, m, f float64) float64 {
	w := math.Abs(float64(want))
	return epsBF16/2*(w+m) + epsBF16*epsBF16*(w+m+f)
}

// TestAttentionBF16MatchesCPU: the forward (out within bf16Tol of the CPU's, lse
// within float32's 2^-16 relative, as both compute it in float32 from the same bf16
// values) and the backward (dq, dk, dv within bf16Tol) for every head size the
// kernels take (padded to 16, 32, 64, 128; heads not a multiple of 4 take the scalar
// loads), T over one and several tiles, against the CPU on the same bf16 inputs and,
// for the backward, the same out (bf16) and lse.
func TestAttentionBF16MatchesCPU(t *testing.T) {
	ref := cpu.NewWorkers(1)
	r := rand.New(rand.NewPCG(16, 2))
	for _, sh := range []struct{ B, T, C, NH int }{
		{1, 1, 16, 1},    // hs 16, one row
		{2, 17, 32, 2},   // hs 16
		{1, 65, 64, 2},   // hs 32, two tiles
		{2, 70, 24, 4},   // hs 6: padded to 16, scalar loads
		{1, 130, 128, 2}, // hs 64, three tiles
		{1, 80, 128, 1},  // hs 128
		{1, 33, 96, 1},   // hs 96: padded to 128
	} {
		B, T, C, NH := sh.B, sh.T, sh.C, sh.NH
		name := fmt.Sprintf("B%d_T%d_C%d_NH%d", B, T, C, NH)
		t.Run(name, func(t *testing.T) {
			o := testOps(t, kernels.BF16)
			qkv := randSlice(r, B*T*3*C)
			for i := range qkv {
				qkv[i] *= 2 // scores of a few units: a peaked softmax as well as flat ones
			}
			dout := randSlice(r, B*T*C)
			dQkv, hQkv := tUploadAs(o, kernels.Working, qkv)
			dDout, hDout := tUploadAs(o, kernels.Working, dout)
			dOut, dLse := o.AllocAs(B*T*C, kernels.Working).(Buf), o.AllocAs(B*NH*T, kernels.Exact).(Buf)
			dDqkv := o.AllocAs(B*T*3*C, kernels.Working).(Buf)

			// Forward.
			wOut, wLse := make([]float32, B*T*C), make([]float32, B*NH*T)
			ref.AttentionForward(cpu.F32(wOut), cpu.F32(wLse), cpu.F32(hQkv), B, T, C, NH)
			o.AttentionForward(dOut, dLse, dQkv, B, T, C, NH)
			gOut, gLse := tDownload(o, dOut), tDownload(o, dLse)
			// The backward's inputs, the same for both: the CPU's out rounded to bf16, its lse.
			hOut := make([]float32, len(wOut))
			for i, v := range wOut {
				hOut[i] = kernelstest.RoundBF16(v)
			}
			mOut, mDqkv, fDqkv := attnMagnitudes(hQkv, hOut, hDout, B, T, C, NH)
			check := func(what string, got, want []float32, tol func(i int) float64) {
				t.Helper()
				bad, worst := 0, 0.0
				for i := range want {
					d := math.Abs(float64(got[i]) - float64(want[i]))
					worst = max(worst, d/tol(i))
					if !(d <= tol(i)) {
						if bad++; bad <= 3 {
							t.Errorf("%s[%d] = %g, want %g (CPU): off by %.3g > %.3g", what, i, got[i], want[i], d, tol(i))
						}
					}
				}
				t.Logf("%s: worst error %.3f of the tolerance", what, worst)
			}
			check("out", gOut, wOut, func(i int) float64 { return bf16Tol(wOut[i], mOut[i], mOut[i]) })
			check("lse", gLse, wLse, func(i int) float64 { return 0x1p-16 * (1 + math.Abs(float64(wLse[i]))) })
			for i, v := range gOut {
				if v != kernelstest.RoundBF16(v) {
					t.Fatalf("out[%d] = %g is not a bf16", i, v)
				}
			}

			// Backward, from the same out and lse.
			tFree(o, dOut, dLse)
			dOut, _ = tUploadAs(o, kernels.Working, hOut)
			dLse, _ = tUploadAs(o, kernels.Exact, wLse)
			wDqkv := make([]float32, B*T*3*C)
			ref.AttentionBackward(cpu.F32(wDqkv), cpu.F32(hDout), cpu.F32(hQkv), cpu.F32(hOut), cpu.F32(wLse), B, T, C, NH)
			o.Upload(dDqkv, make([]float32, B*T*3*C)) // overwritten, whatever it held
			o.AttentionBackward(dDqkv, dDout, dQkv, dOut, dLse, B, T, C, NH)
			gDqkv := tDownload(o, dDqkv)
			check("dqkv", gDqkv, wDqkv, func(i int) float64 { return bf16Tol(wDqkv[i], mDqkv[i], fDqkv[i]) })
			tFree(o, dQkv, dDout, dOut, dLse, dDqkv)
		})
	}
}

// TestAttentionBF16RefusesMixedStorage: bf16 activations with float32 ones, or a
// bf16 lse, panic naming the operand.
func TestAttentionBF16RefusesMixedStorage(t *testing.T) {
	o := testOps(t, kernels.BF16)
	const B, T, C, NH = 1, 4, 16, 1
	qkv, out := o.AllocAs(B*T*3*C, kernels.Working), o.AllocAs(B*T*C, kernels.Working)
	fOut, lse, hLse := o.AllocAs(B*T*C, kernels.Exact), o.AllocAs(B*NH*T, kernels.Exact), o.AllocAs(B*NH*T, kernels.Working)
	defer tFree(o, qkv.(Buf), out.(Buf), fOut.(Buf), lse.(Buf), hLse.(Buf))
	for _, x := range []struct {
		f    func()
		want string
	}{
		{func() { o.AttentionForward(fOut, lse, qkv, B, T, C, NH) }, "qkv is bf16, unlike out"},
		{func() { o.AttentionForward(out, hLse, qkv, B, T, C, NH) }, "lse is bf16"},
		{func() { o.AttentionBackward(qkv, out, qkv, fOut, lse, B, T, C, NH) }, "out is float32"},
	} {
		msg := mustPanic(t, x.f)
		if !containsAll(msg, "cuda: Attention", x.want) {
			t.Errorf("panic %q, want it to name %q", msg, x.want)
		}
	}
}

func containsAll(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// TestAttentionBF16Deterministic: the bf16 kernels sum in a fixed order (no atomics),
// so two runs give the same bits, and dqkv is overwritten whatever it held (NaN).
func TestAttentionBF16Deterministic(t *testing.T) {
	o := testOps(t, kernels.BF16)
	const B, T, C, NH = 2, 97, 64, 2
	r := rand.New(rand.NewPCG(16, 3))
	qkv, _ := tUploadAs(o, kernels.Working, randSlice(r, B*T*3*C))
	dout, _ := tUploadAs(o, kernels.Working, randSlice(r, B*T*C))
	out, lse := o.AllocAs(B*T*C, kernels.Working).(Buf), o.AllocAs(B*NH*T, kernels.Exact).(Buf)
	dqkv := o.AllocAs(B*T*3*C, kernels.Working).(Buf)
	nan := make([]float32, B*T*3*C)
	for i := range nan {
		nan[i] = float32(math.NaN())
	}
	var runs [2][]float32
	for k := range runs {
		o.Upload(dqkv, nan)
		o.AttentionForward(out, lse, qkv, B, T, C, NH)
		o.AttentionBackward(dqkv, dout, qkv, out, lse, B, T, C, NH)
		runs[k] = append(append(tDownload(o, out), tDownload(o, lse)...), tDownload(o, dqkv)...)
	}
	for i := range runs[0] {
		if a, b := math.Float32bits(runs[0][i]), math.Float32bits(runs[1][i]); a != b || math.IsNaN(float64(runs[0][i])) {
			t.Fatalf("element %d of out|lse|dqkv: %#08x then %#08x", i, a, b)
		}
	}
	tFree(o, qkv, dout, out, lse, dqkv)
}
