// Package data loads training text and token shards and serves batches.
//
// Two sources are understood: byte-level text (vocabulary 256) read from a
// file or a directory tree, by default the Go standard library sources; and
// llm.c token shards (.bin files of uint16 GPT-2 tokens). Tokens are held as
// []uint16, split deterministically into training and validation parts, and
// served as (B, T) int32 inputs and targets written into caller-owned slices.
//
// Main types:
//   - Dataset: the loaded tokens, their split, vocabulary and origin (Load,
//     LoadText, LoadShards); Describe returns an Info for the CLI to print.
//   - TrainLoader: training batches whose offsets are a pure function of
//     (seed, step), so a resumed run sees exactly the same data.
//   - ValLoader: fixed sequential windows over the validation split, so
//     every evaluation sees the same data.
//   - GPT2: GPT-2's byte-level BPE (r50k_base, embedded), Encode and Decode.
//   - TokenizeConfig: what Tokenize encodes into llm.c shards, one document
//     per file with EndOfText before each.
//
// ReadShard and WriteShard read and write single llm.c shards.
package data
