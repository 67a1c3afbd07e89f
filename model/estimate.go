// Estimates: FLOPs per token and memory, for the planner and the reports.

package model

// FLOPsPerToken is the training cost of one token, forward and backward:
// 6N for the matmuls with the parameters plus 6·L·C·T for attention, T the
// context: the QKᵀ and AV products over the causal half of the T×T scores,
// which is all the kernels compute (BlockFLOPsPerToken). PaLM's and
// nanoGPT's MFU count 12·L·C·T, the whole square, so for the same time
// theirs reads a little higher.
func (c Config) FLOPsPerToken(T int) float64 {
	return 6*float64(c.NumParams()) + 6*float64(c.L)*float64(c.C)*float64(T)
}

// BlockActElems is the number of float32 one block stashes per micro-batch of
// B×T tokens under recompute mode r; transformer.blockActs allocates exactly
// this. RecomputeNone stashes ln1, qkv, attention output, res2, ln2, fc,
// gelu(fc), output (16·C per token), two LayerNorms' mean and rstd, and the
// attention's log-sum-exp per head. RecomputeGELU drops gelu(fc): 4·C per
// token fewer. RecomputeBlock keeps only the output (C per token): the
// backward rebuilds the rest from the block's input, which is the previous
// block's output or the stage's input, stashed already.
func (c Config) BlockActElems(B, T int, r Recompute) int64 {
	bt, C := int64(B)*int64(T), int64(c.C)
	switch r {
	case RecomputeGELU:
		return bt*12*C + 4*bt + bt*int64(c.NH)
	case RecomputeBlock:
		return bt * C
	}
	return bt*16*C + 4*bt + bt*int64(c.NH)
}
