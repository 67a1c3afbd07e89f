// Roofline costs: each kernel's arithmetic and the bytes it moves, from the shapes kernels.Ops is called with.

package model

import "fmt"

// Cost is one kernel call's work: its kernels.Ops method and shape, the
// arithmetic it does and the bytes it reads and writes, each operand
// counted once (what the kernel cannot do with less traffic to memory).
// Matrix products count 2 FLOPs per multiply-add; the element-wise and
// reduction kernels count their arithmetic per element approximately: they
// move 1 to 4 bytes per FLOP, far below any GPU's ridge point, so their
// bound is their bytes whatever the exact count.
type Cost struct {
	Op    string  `json:"op"`
	Shape string  `json:"shape"`
	FLOPs float64 `json:"flops"`
	Bytes float64 `json:"bytes"`
}

// MatMul says whether c's kernel multiplies matrices (on tensor cores on a
// GPU): the GEMMs and the attention. The others run on the vector units.
func (c Cost) MatMul() bool {
	return c.Op == "Gemm" || c.Op == "AttentionForward" || c.Op == "AttentionBackward"
}

// The cost functions take e, the bytes of an element of the activations,
// parameters and gradients: 4 for fp32 and tf32, 2 for bf16. Token ids,
// LayerNorm statistics, the attention's log-sum-exp, losses and AdamW's
// master weights and moments are 4 bytes whatever e is.
const f32 = 4

func cost(op, shape string, flops, bytes float64) Cost {
	return Cost{Op: op, Shape: shape, FLOPs: flops, Bytes: bytes}
}

func btc(B, T, C int) string { return fmt.Sprintf("B=%d T=%d C=%d", B, T, C) }
func nc(N, C int) string     { return fmt.Sprintf("N=%d C=%d", N, C) }
func n(N int) string         { return fmt.Sprintf("N=%d", N) }

// EncoderForwardCost: out (B,T,C) from wte's and wpe's rows and the tokens.
func EncoderForwardCost(B, T, C, e int) Cost {
	bt, c := float64(B*T), float64(C)
	return cost("EncoderForward", btc(B, T, C), bt*c, bt*f32+float64(e)*(2*bt*c+float64(T)*c))
}

// EncoderBackwardCost: dout (B,T,C) scattered into wte's rows (at most
// one per token) and wpe's T rows, both read and written.
func EncoderBackwardCost(B, T, C, e int) Cost {
	bt, c := float64(B*T), float64(C)
	return cost("EncoderBackward", btc(B, T, C), 2*bt*c, bt*f32+float64(e)*(3*bt*c+2*float64(T)*c))
}

// LayerNormForwardCost: out (N,C) from inp, w and b, saving mean and rstd (N).
func LayerNormForwardCost(N, C, e int) Cost {
	x := float64(N) * float64(C)
	return cost("LayerNormForward", nc(N, C), 8*x, float64(e)*(2*x+2*float64(C))+2*f32*float64(N))
}

// ResidualLayerNormForwardCost: res (N,C) = a + b, and out (N,C) its
// LayerNorm, saving mean and rstd (N): a and b read, res and out written,
// w and bias read. The LayerNorm's reads of res come from cache, not memory:
// 2(N,C) fewer than ResidualForward and LayerNormForward apart.
func ResidualLayerNormForwardCost(N, C, e int) Cost {
	x := float64(N) * float64(C)
	return cost("ResidualLayerNormForward", nc(N, C), 9*x, float64(e)*(4*x+2*float64(C))+2*f32*float64(N))
}

// LayerNormBackwardCost: dinp (N,C) accumulated (read and written) from
// dout and inp, dw and db (C) accumulated, w, mean and rstd read.
func LayerNormBackwardCost(N, C, e int) Cost {
	x := float64(N) * float64(C)
	return cost("LayerNormBackward", nc(N, C), 14*x, float64(e)*(4*x+5*float64(C))+2*f32*float64(N))
}

// GemmCost: c (M,N) = op(a) (M,K) @ op(b) (K,N), c read as well when
// accumulate (beta ≠ 0).
func GemmCost(transA, transB bool, M, N, K int, accumulate bool, e int) Cost {
	form := map[[2]bool]string{{false, false}: "A·B", {true, false}: "Aᵀ·B", {false, true}: "A·Bᵀ", {true, true}: "Aᵀ·Bᵀ"}[[2]bool{transA, transB}]
	assign, cw := "=", 1.0
	if accumulate {
		assign, cw = "+=", 2
	}
	m, nn, k := float64(M), float64(N), float64(K)
	return cost("Gemm", fmt.Sprintf("M=%d N=%d K=%d C%s%s", M, N, K, assign, form), 2*m*nn*k, float64(e)*(m*k+k*nn+cw*m*nn))
}

// BiasForwardCost: out (N,OC) += bias (OC).
func BiasForwardCost(N, OC, e int) Cost {
	x := float64(N) * float64(OC)
	return cost("BiasForward", fmt.Sprintf("N=%d OC=%d", N, OC), x, float64(e)*(2*x+float64(OC)))
}

// BiasBackwardCost: dbias (OC) += column sums of dout (N,OC).
func BiasBackwardCost(N, OC, e int) Cost {
	x := float64(N) * float64(OC)
	return cost("BiasBackward", fmt.Sprintf("N=%d OC=%d", N, OC), x, float64(e)*(x+2*float64(OC)))
}

// causalPairs is the (query, key) pairs of causal attention over B
// sequences of T tokens and NH heads: each query attends to itself and
// the keys before it, T(T+1)/2 per sequence and head.
func causalPairs(B, T, NH int) float64 { return float64(B*NH) * float64(T) * float64(T+1) / 2 }

func attnShape(B, T, C, NH int) string { return fmt.Sprintf("B=%d T=%d C=%d NH=%d", B, T, C, NH) }

// AttentionForwardCost: out (B,T,C) and lse (B,NH,T) from qkv (B,T,3C);
// two products of 2·hs FLOPs per causal pair (QKᵀ and the weighted sum of
// V); the softmax's exponentials are not counted.
func AttentionForwardCost(B, T, C, NH, e int) Cost {
	hs, btc := float64(C/NH), float64(B*T*C)
	return cost("AttentionForward", attnShape(B, T, C, NH), 4*hs*causalPairs(B, T, NH), float64(e)*4*btc+f32*float64(B*NH*T))
}

// AttentionBackwardCost: dqkv (B,T,3C) from dout, qkv, out and lse; five
// products per causal pair: QKᵀ again (the probabilities are recomputed
// from lse, not stored), dV, dP, dQ and dK.
func AttentionBackwardCost(B, T, C, NH, e int) Cost {
	hs, btc := float64(C/NH), float64(B*T*C)
	return cost("AttentionBackward", attnShape(B, T, C, NH), 10*hs*causalPairs(B, T, NH), float64(e)*8*btc+f32*float64(B*NH*T))
}

// GeluForwardCost: out (N) = gelu_tanh(inp).
func GeluForwardCost(N, e int) Cost {
	return cost("GeluForward", n(N), 8*float64(N), float64(e)*2*float64(N))
}

// GeluBackwardCost: dinp (N) from inp and dout.
func GeluBackwardCost(N, e int) Cost {
	return cost("GeluBackward", n(N), 16*float64(N), float64(e)*3*float64(N))
}

// ResidualForwardCost: out (N) = a + b.
func ResidualForwardCost(N, e int) Cost {
	return cost("ResidualForward", n(N), float64(N), float64(e)*3*float64(N))
}

// CrossEntropyCost: losses (N) and dlogits (N,V), in place over the
// logits, from the logits and the targets (N).
func CrossEntropyCost(N, V, e int) Cost {
	x := float64(N) * float64(V)
	return cost("CrossEntropyForwardBackward", fmt.Sprintf("N=%d V=%d", N, V), 5*x, float64(e)*2*x+2*f32*float64(N))
}

// CopyCost: dst (N) = src.
func CopyCost(N, e int) Cost { return cost("Copy", n(N), 0, float64(e)*2*float64(N)) }

// ZeroCost: b (N) = 0.
func ZeroCost(N, e int) Cost { return cost("Zero", n(N), 0, float64(e)*float64(N)) }

// SumSquaresCost: the sums of squares of buffers holding elems elements in all.
func SumSquaresCost(buffers, elems, e int) Cost {
	return cost("SumSquares", fmt.Sprintf("buffers=%d N=%d", buffers, elems), 2*float64(elems), float64(e)*float64(elems))
}

// AdamWCost: N parameters updated from their gradients: the fp32 master
// weights and both moments read and written, and where the parameters
// are narrower than fp32 (e < 4) their copy written too.
func AdamWCost(N, e int) Cost {
	x := float64(N)
	bytes := float64(e)*x + 6*f32*x
	if e < f32 {
		bytes += float64(e) * x
	}
	return cost("AdamW", n(N), 16*x, bytes)
}
