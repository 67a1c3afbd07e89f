// Per-layer costs for the partition planner: training FLOPs per token of one
// block and of the head, and the activation memory each stage keeps.

package model

// BlockFLOPsPerToken is the training cost of one decoder block per token,
// forward and backward (the backward costs twice the forward, hence ×3).
// Forward: 2·12C² for the four matmuls (qkv 3C², attention projection C²,
// MLP 8C²) and 2·T·C for causal attention: QKᵀ and the weighted sum of V each
// cost 2·C per key, and a token attends to T/2 keys on average. Biases,
// LayerNorms and GELU are left out: O(C) per token, a fraction of a percent.
// Summed over the layers this agrees with FLOPsPerToken's 6·L·C·T for attention.
func (c Config) BlockFLOPsPerToken(T int) float64 {
	C := float64(c.C)
	return 3 * (2*12*C*C + 2*float64(T)*C)
}

// HeadFLOPsPerToken is the training cost of the head per token: the tied LM
// head's (C,V) matmul, 2·C·V forward, ×3 with the backward. The final
// LayerNorm and the softmax are O(C+V) and left out. The embedding has no
// entry: a gather of two rows costs nothing next to a block.
func (c Config) HeadFLOPsPerToken() float64 {
	return 3 * 2 * float64(c.C) * float64(c.V)
}

// StageActElems is StageActElemsFor without recomputation.
func (c Config) StageActElems(blocks, B, T int) int64 {
	return c.StageActElemsFor(blocks, B, T, RecomputeNone)
}

// StageActElemsFor is the float32 count a stage stashes per micro-batch in
// flight under recompute mode r: each of its blocks' activations
// (BlockActElems) and its input (B,T,C): the embedding output on the first
// stage, the received activation on the others. It leaves out what a
// stage keeps once, whatever the micro-batches in flight: scratch, and under
// RecomputeBlock the one block's activations the backward rebuilds.
func (c Config) StageActElemsFor(blocks, B, T int, r Recompute) int64 {
	return int64(blocks)*c.BlockActElems(B, T, r) + int64(B)*int64(T)*int64(c.C)
}
