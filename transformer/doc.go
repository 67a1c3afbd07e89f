// Package transformer is the decoder's math, written only against
// kernels.Ops: the embedding, pre-LN blocks with causal attention and an MLP,
// and the head (final LayerNorm, LM head tied to the token embedding, and the
// cross-entropy loss), each as llm.c-style forward and backward functions.
//
// Main types: Stack (a contiguous run of the decoder — what one pipeline stage
// holds — with its parameters, gradients, optimizer state and the stash of
// activations of the micro-batches it has in flight), Spec, Params.
package transformer
