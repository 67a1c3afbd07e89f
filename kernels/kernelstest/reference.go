// References: every op of kernels.Ops, forward and backward, as plain float64 loops.

package kernelstest

import (
	"math"

	"baton/kernels"
)

// The references are written for clarity, not speed: the loops of the
// definitions, in float64, with the shapes and layouts of kernels.Ops. The
// backward references are analytic; reference_test.go checks each against
// central finite differences of its forward reference, so a backend that
// matches them matches the true derivative.

// LayerNormEps is GPT-2's LayerNorm epsilon, the one every backend uses.
const LayerNormEps = 1e-5

// GeluK is sqrt(2/pi), the constant of GPT-2's tanh approximation of GELU.
const GeluK = 0.7978845608028654

// EncoderForward returns out (B,T,C) = wte[inp] + wpe[t]; inp (B,T), wte
// (V,C), wpe (at least T rows of C).
func EncoderForward(inp []int32, wte, wpe []float64, B, T, C int) []float64 {
	out := make([]float64, B*T*C)
	for bt, id := range inp[:B*T] {
		t := bt % T
		for i := 0; i < C; i++ {
			out[bt*C+i] = wte[int(id)*C+i] + wpe[t*C+i]
		}
	}
	return out
}

// EncoderBackward returns the gradients dwte (V,C) and dwpe (T,C) of
// EncoderForward for dout (B,T,C): the scatter of dout's rows.
func EncoderBackward(dout []float64, inp []int32, B, T, C, V int) (dwte, dwpe []float64) {
	dwte, dwpe = make([]float64, V*C), make([]float64, T*C)
	for bt, id := range inp[:B*T] {
		t := bt % T
		for i := 0; i < C; i++ {
			dwte[int(id)*C+i] += dout[bt*C+i]
			dwpe[t*C+i] += dout[bt*C+i]
		}
	}
	return dwte, dwpe
}

// LayerNormForward returns out (N,C) = (inp-mean)*rstd*w + b and the
// statistics mean, rstd (N), with rstd = 1/sqrt(var + LayerNormEps) and the
// biased variance.
func LayerNormForward(inp, w, b []float64, N, C int) (out, mean, rstd []float64) {
	out, mean, rstd = make([]float64, N*C), make([]float64, N), make([]float64, N)
	for n := 0; n < N; n++ {
		x := inp[n*C : (n+1)*C]
		var m, v float64
		for _, xi := range x {
			m += xi
		}
		m /= float64(C)
		for _, xi := range x {
			v += (xi - m) * (xi - m)
		}
		s := 1 / math.Sqrt(v/float64(C)+LayerNormEps)
		for i, xi := range x {
			out[n*C+i] = (xi-m)*s*w[i] + b[i]
		}
		mean[n], rstd[n] = m, s
	}
	return out, mean, rstd
}

// LayerNormBackward returns the gradients of LayerNormForward for dout
// (N,C): dinp (N,C), dw and db (C). mean and rstd are the forward's.
func LayerNormBackward(dout, inp, w, mean, rstd []float64, N, C int) (dinp, dw, db []float64) {
	dinp, dw, db = make([]float64, N*C), make([]float64, C), make([]float64, C)
	xhat, dnorm := make([]float64, C), make([]float64, C)
	for n := 0; n < N; n++ {
		var mDnorm, mDnormXhat float64
		for i := 0; i < C; i++ {
			xhat[i] = (inp[n*C+i] - mean[n]) * rstd[n]
			dnorm[i] = dout[n*C+i] * w[i]
			mDnorm += dnorm[i]
			mDnormXhat += dnorm[i] * xhat[i]
			dw[i] += dout[n*C+i] * xhat[i]
			db[i] += dout[n*C+i]
		}
		mDnorm /= float64(C)
		mDnormXhat /= float64(C)
		for i := 0; i < C; i++ {
			dinp[n*C+i] = rstd[n] * (dnorm[i] - mDnorm - xhat[i]*mDnormXhat)
		}
	}
	return dinp, dw, db
}

// Gemm returns alpha op(a) op(b) + beta c for row-major op(a) (M,K) and
// op(b) (K,N). When beta is 0, c is not read (it may be nil or hold NaN).
func Gemm(transA, transB bool, M, N, K int, alpha float64, a, b []float64, beta float64, c []float64) []float64 {
	out := make([]float64, M*N)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			var s float64
			for k := 0; k < K; k++ {
				av := a[i*K+k]
				if transA {
					av = a[k*M+i]
				}
				bv := b[k*N+j]
				if transB {
					bv = b[j*K+k]
				}
				s += av * bv
			}
			out[i*N+j] = alpha * s
			if beta != 0 {
				out[i*N+j] += beta * c[i*N+j]
			}
		}
	}
	return out
}

// BiasBackward returns the column sums (OC) of dout (N,OC): the gradient of
// adding a bias to every row.
func BiasBackward(dout []float64, N, OC int) []float64 {
	db := make([]float64, OC)
	for n := 0; n < N; n++ {
		for j := 0; j < OC; j++ {
			db[j] += dout[n*OC+j]
		}
	}
	return db
}

// AttentionForward is causal multi-head attention by its definition: for
// each query the full masked row of scores q·k/sqrt(hs), its softmax, and
// the weighted sum of values. qkv (B,T,3C) holds [q | k | v] per token.
// Returns out (B,T,C) and lse (B,NH,T), each query's log-sum-exp of scores.
func AttentionForward(qkv []float64, B, T, C, NH int) (out, lse []float64) {
	out, lse = make([]float64, B*T*C), make([]float64, B*NH*T)
	p := make([]float64, T)
	for b := 0; b < B; b++ {
		for h := 0; h < NH; h++ {
			for t := 0; t < T; t++ {
				l := attentionProbs(p, qkv, b, h, t, T, C, NH)
				o := out[(b*T+t)*C+h*(C/NH):][:C/NH]
				for t2 := 0; t2 <= t; t2++ {
					v := attnRow(qkv, 2, b, t2, h, T, C, NH)
					for i := range o {
						o[i] += p[t2] * v[i]
					}
				}
				lse[(b*NH+h)*T+t] = l
			}
		}
	}
	return out, lse
}

// AttentionBackward returns dqkv (B,T,3C), the gradient of
// AttentionForward's out for dout (B,T,C). With p the probabilities of a
// query row: dv += p dout, dp = dout·v, ds = p (dp - Σ p dp), and
// dq, dk += ds k, ds q scaled by 1/sqrt(hs).
func AttentionBackward(dout, qkv []float64, B, T, C, NH int) []float64 {
	hs := C / NH
	scale := 1 / math.Sqrt(float64(hs))
	dqkv := make([]float64, B*T*3*C)
	p, dp := make([]float64, T), make([]float64, T)
	for b := 0; b < B; b++ {
		for h := 0; h < NH; h++ {
			for t := 0; t < T; t++ {
				attentionProbs(p, qkv, b, h, t, T, C, NH)
				do := dout[(b*T+t)*C+h*hs:][:hs]
				var pdp float64
				for t2 := 0; t2 <= t; t2++ {
					v := attnRow(qkv, 2, b, t2, h, T, C, NH)
					dv := attnRow(dqkv, 2, b, t2, h, T, C, NH)
					dp[t2] = 0
					for i := range do {
						dp[t2] += do[i] * v[i]
						dv[i] += p[t2] * do[i]
					}
					pdp += p[t2] * dp[t2]
				}
				q := attnRow(qkv, 0, b, t, h, T, C, NH)
				dq := attnRow(dqkv, 0, b, t, h, T, C, NH)
				for t2 := 0; t2 <= t; t2++ {
					ds := p[t2] * (dp[t2] - pdp) * scale
					k := attnRow(qkv, 1, b, t2, h, T, C, NH)
					dk := attnRow(dqkv, 1, b, t2, h, T, C, NH)
					for i := range q {
						dq[i] += ds * k[i]
						dk[i] += ds * q[i]
					}
				}
			}
		}
	}
	return dqkv
}

// attnRow is head h's slice of part (0 q, 1 k, 2 v) of token (b, t) in a
// (B,T,3C) tensor.
func attnRow(x []float64, part, b, t, h, T, C, NH int) []float64 {
	hs := C / NH
	return x[(b*T+t)*3*C+part*C+h*hs:][:hs]
}

// attentionProbs fills p[0..t] with the softmax of query (b,h,t)'s scaled,
// causally masked scores and returns their log-sum-exp.
func attentionProbs(p, qkv []float64, b, h, t, T, C, NH int) float64 {
	scale := 1 / math.Sqrt(float64(C/NH))
	q := attnRow(qkv, 0, b, t, h, T, C, NH)
	m := math.Inf(-1)
	for t2 := 0; t2 <= t; t2++ {
		k := attnRow(qkv, 1, b, t2, h, T, C, NH)
		var s float64
		for i := range q {
			s += q[i] * k[i]
		}
		p[t2] = s * scale
		m = max(m, p[t2])
	}
	var sum float64
	for t2 := 0; t2 <= t; t2++ {
		p[t2] = math.Exp(p[t2] - m)
		sum += p[t2]
	}
	for t2 := 0; t2 <= t; t2++ {
		p[t2] /= sum
	}
	return m + math.Log(sum)
}

// Gelu is GPT-2's tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x³))).
func Gelu(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(GeluK*(x+0.044715*x*x*x)))
}

// GeluGrad is the derivative of Gelu.
func GeluGrad(x float64) float64 {
	th := math.Tanh(GeluK * (x + 0.044715*x*x*x))
	return 0.5*(1+th) + 0.5*x*(1-th*th)*GeluK*(1+3*0.044715*x*x)
}

// CrossEntropy returns losses (N) = -log softmax(logits)[target] and
// dlogits (N,V) = (softmax - onehot(target)) * dscale for logits (N,V).
func CrossEntropy(logits []float64, targets []int32, N, V int, dscale float64) (losses, dlogits []float64) {
	losses, dlogits = make([]float64, N), make([]float64, N*V)
	for n := 0; n < N; n++ {
		x := logits[n*V : (n+1)*V]
		m := math.Inf(-1)
		for _, v := range x {
			m = max(m, v)
		}
		var sum float64
		for _, v := range x {
			sum += math.Exp(v - m)
		}
		tg := int(targets[n])
		losses[n] = m + math.Log(sum) - x[tg]
		for i, v := range x {
			p := math.Exp(v-m) / sum
			if i == tg {
				p--
			}
			dlogits[n*V+i] = p * dscale
		}
	}
	return losses, dlogits
}

// SumSquares returns sum(x[i]²), Neumaier-compensated in float64: exact to
// about one float64 ulp, far below any backend's own rounding.
func SumSquares(x []float32) float64 {
	var sum, comp float64
	for _, v := range x {
		sq := float64(v) * float64(v)
		s := sum + sq
		if math.Abs(sum) >= sq {
			comp += (sum - s) + sq
		} else {
			comp += (sq - s) + sum
		}
		sum = s
	}
	return sum + comp
}

// AdamW applies step t (1-based) of AdamW in place to params, m and v (all
// float64), from grads*gradScale:
//
//	m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g²
//	p -= lr * (m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps) + wd p)
//
// The hyper-parameters are widened from float32, as a backend sees them.
func AdamW(params, grads, m, v []float64, hp kernels.AdamParams, gradScale float64, t int) {
	b1, b2 := float64(hp.Beta1), float64(hp.Beta2)
	bc1, bc2 := 1-math.Pow(b1, float64(t)), 1-math.Pow(b2, float64(t))
	for i := range params {
		g := grads[i] * gradScale
		m[i] = b1*m[i] + (1-b1)*g
		v[i] = b2*v[i] + (1-b2)*g*g
		mhat, vhat := m[i]/bc1, v[i]/bc2
		params[i] -= float64(hp.LR) * (mhat/(math.Sqrt(vhat)+float64(hp.Eps)) + float64(hp.WeightDecay)*params[i])
	}
}
