// Package transformer is the decoder's math, written against kernels.Ops:
// the embedding, pre-LN blocks with causal attention and an MLP, and the
// head (final LayerNorm, LM head tied to the token embedding, and the
// cross-entropy loss), each as llm.c-style forward and backward functions.
//
// Main types: Stack (a contiguous run of the decoder — what one pipeline stage
// holds — with its parameters, gradients and optimizer state), Acts (one
// micro-batch's stash of activations on a stack; the runtime pools them),
// Spec, Params, and Decoder (generation one position at a time from a cache
// of every block's keys and values, on host memory). Nothing here locks or
// waits: the runtime decides which goroutine calls what, and when a stash is
// reused.
package transformer
