// Package kernels defines Ops, the llm.c-style set of tensor operations the
// decoder is written against, and the Buffer handle its backends hand out.
//
// Main types: Ops (one implementation per backend: kernels/cpu is the plain-Go
// reference, kernels/cuda the GPU), Buffer (memory owned by one backend).
//
// Conventions every backend follows, so that the conformance suite can check
// them all the same way:
//   - Shapes are explicit arguments named as in llm.c: B batch, T time, C
//     channels, NH heads, V vocabulary, N = B*T rows, OC output channels.
//   - Forward outputs (activations) are overwritten.
//   - Parameter gradients accumulate (+=), so micro-batches sum into them.
//   - Activation gradients are overwritten, except where an op's comment says
//     it accumulates (LayerNormBackward's dinp, for the residual stream).
//   - Matrices are row-major. A linear layer's weight is (C, OC), the layout of
//     GPT-2's Conv1D, so checkpoints need no transposes.
package kernels

// Buffer is a region of memory owned by one backend: float32 unless it was
// made by AllocInt. Only the backend that made it can read or write it.
type Buffer interface {
	Len() int // elements, not bytes
}

// HostFloats is a Buffer that is host memory of float32 values: Floats is the
// buffer itself, not a copy, so a reader needs no Download and a writer
// changes the buffer. Callers that only read (a checkpoint's save) use it to
// skip a copy of every tensor; the CPU backend's buffers implement it.
type HostFloats interface {
	Buffer
	Floats() []float32
}

// RowAttention is a backend that attends one query row over a cache:
// AttendRow sets out (C) to the causal self-attention of position p's
// query in qkv (at least p+1 rows of 3C) over the keys and values of
// positions 0..p, NH heads. A decoder with a cache runs it for each new
// position (O(p)), where a forward pass would attend every row (O(p²)).
// The CPU backend implements it.
type RowAttention interface {
	AttendRow(out, qkv Buffer, p, C, NH int)
}

// Ops is a compute backend. Every method runs on the backend's own device, in
// the order called; host-side methods (Download, SumSquares) return only
// when the data is on the host, and are the only ones that wait for the
// device: a step loop calls each once per step, not per tensor or micro-batch.
type Ops interface {
	Name() string

	// Memory.
	Alloc(n int) Buffer                // n float32, zeroed
	AllocAs(n int, s Storage) Buffer   // n zeroed elements of what s holds (see Storage)
	AllocInt(n int) Buffer             // n int32, zeroed
	Slice(b Buffer, off, n int) Buffer // a view of b[off:off+n], sharing memory
	Upload(dst Buffer, src []float32)  // host → device, len(src) == dst.Len()
	UploadInt(dst Buffer, src []int32) // host → device, len(src) == dst.Len()
	Download(dst []float32, src Buffer)
	Copy(dst, src Buffer) // same backend, equal lengths
	Zero(b Buffer)

	// EncoderForward: out (B,T,C) = wte[inp] (V,C) + wpe[t] (T,C); inp (B,T) int.
	EncoderForward(out, inp, wte, wpe Buffer, B, T, C int)
	// EncoderBackward: dwte, dwpe += scatter of dout (B,T,C) by inp (B,T).
	EncoderBackward(dwte, dwpe, dout, inp Buffer, B, T, C int)

	// LayerNormForward: out (N,C) = (inp-mean)*rstd*w + b; saves mean, rstd (N).
	LayerNormForward(out, mean, rstd, inp, w, b Buffer, N, C int)
	// ResidualLayerNormForward fuses ResidualForward and LayerNormForward:
	// res (N,C) = a + b (res may be a or b), then out (N,C) = (res-mean)*rstd*w
	// + bias, saving mean, rstd (N), each row's statistics taken from res as
	// it is stored (in bf16 storage, the rounded sum). It reads a and b once
	// and gives the bits of ResidualForward(res, a, b, N*C) followed by
	// LayerNormForward(out, mean, rstd, res, w, bias, N, C) on the same backend.
	ResidualLayerNormForward(res, out, mean, rstd, a, b, w, bias Buffer, N, C int)
	// LayerNormBackward: dinp (N,C) += (accumulates: the residual stream), dw, db (C) +=.
	LayerNormBackward(dinp, dw, db, dout, inp, w, mean, rstd Buffer, N, C int)

	// Gemm: c (M,N) = alpha * op(a) @ op(b) + beta * c, row-major, dense;
	// op(a) is (M,K) (a is (K,M) when transA), op(b) is (K,N) ((N,K) when transB).
	// As in BLAS, beta == 0 does not read c, and K == 0 or alpha == 0 reads
	// neither a nor b (c = beta * c): NaNs there do not reach c.
	Gemm(transA, transB bool, M, N, K int, alpha float32, a, b Buffer, beta float32, c Buffer)
	// BiasForward: out (N,OC) += bias (OC) on every row.
	BiasForward(out, bias Buffer, N, OC int)
	// BiasBackward: dbias (OC) += column sums of dout (N,OC).
	BiasBackward(dbias, dout Buffer, N, OC int)

	// AttentionForward: causal multi-head attention over qkv (B,T,3C), laid out
	// as [q | k | v] per token, heads of size C/NH. out (B,T,C); lse (B,NH,T)
	// keeps each query's log-sum-exp of scaled scores so the backward pass can
	// recompute probabilities instead of storing a (T,T) matrix per head.
	AttentionForward(out, lse, qkv Buffer, B, T, C, NH int)
	// AttentionBackward: dqkv (B,T,3C) from dout (B,T,C), given the forward's
	// qkv, out and lse. dqkv is overwritten.
	AttentionBackward(dqkv, dout, qkv, out, lse Buffer, B, T, C, NH int)

	// GeluForward: out (N) = gelu_tanh(inp).
	GeluForward(out, inp Buffer, N int)
	// GeluBackward: dinp (N) = gelu_tanh'(inp) * dout.
	GeluBackward(dinp, inp, dout Buffer, N int)
	// ResidualForward: out (N) = a + b; out may be a or b (element-wise).
	ResidualForward(out, a, b Buffer, N int)

	// CrossEntropyForwardBackward: for logits (N,V) and targets (N) int,
	// losses (N) = -log softmax(logits)[target], and dlogits (N,V) =
	// (softmax - onehot(target)) * dscale. dlogits may be logits itself.
	CrossEntropyForwardBackward(losses, dlogits, logits, targets Buffer, N, V int, dscale float32)

	// SumSquares sets sums[i] = sum(bufs[i][j]^2), accumulated in float64 in an
	// order fixed by bufs[i]'s length alone (so equal inputs give equal sums on
	// any layout). One round trip to the host for all the buffers.
	SumSquares(sums []float64, bufs []Buffer)
	// AdamW updates params (N) in place from grads*gradScale with moments m, v;
	// t is the 1-based step for bias correction. Decoupled weight decay.
	AdamW(params, grads, m, v Buffer, N int, p AdamParams, gradScale float32, t int)
	// RoundWeights rewrites a parameter's bf16 copy from its float32 master
	// as AdamW's step t with seed (AdamParams.Seed) rounded it: for a
	// parameter written from the host (a checkpoint, a move between ranks),
	// which Upload rounds to nearest. A backend that keeps no such copy, or
	// rounds it to nearest as Upload does, does nothing.
	RoundWeights(params Buffer, seed uint64, t int)
}

// Storage says what a float buffer holds, so that a backend whose precision
// stores values in a narrower type (BF16) knows which buffers must stay
// float32. Every other backend and precision makes float32 for all three.
// Ops take any float buffer where the interface says float32; Upload and
// Download convert, so the host always sees float32.
type Storage int

const (
	// Exact is float32 in every precision: LayerNorm's mean and rstd, the
	// attention's log-sum-exp, the losses, AdamW's moments (Alloc makes it).
	Exact Storage = iota
	// Working holds activations and gradients: bfloat16 under BF16.
	Working
	// Weights holds parameters: under BF16 a bfloat16 copy that the products
	// read, beside a float32 master that AdamW updates and that Upload,
	// Download and Copy move, so checkpoints keep every bit of the masters.
	Weights
)

// AdamParams are the AdamW hyper-parameters of one update.
type AdamParams struct {
	LR, Beta1, Beta2, Eps, WeightDecay float32
	// Seed picks the random bits of stochastic rounding for this tensor
	// (bf16 parameters, when the backend rounds so), so that tensors do not
	// share one stream; every other update ignores it.
	Seed uint64
}
