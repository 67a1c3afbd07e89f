// Batches: training batches addressed by step, validation batches by index, into caller-owned slices.

package data

import (
	"baton/internal/field"
	"errors"
	"fmt"
	"math/bits"
)

// shape is a batch shape, fixed when a loader is made.
type shape struct{ B, T int }

// TrainLoader serves training batches of B sequences of T+1 tokens. The
// offsets of batch k are a pure function of (seed, k): the data position of
// a run is its step counter, so a resumed run sees exactly the same batches
// and nothing about the loader needs to be checkpointed.
type TrainLoader struct {
	tokens []uint16
	s      shape
	seed   uint64
}

// NewTrainLoader serves batches of shape (B, T) from tokens, which must
// hold at least T+1. The loader keeps tokens without copying them.
func NewTrainLoader(tokens []uint16, B, T int, seed uint64) (*TrainLoader, error) {
	if err := checkShape(len(tokens), B, T, "training"); err != nil {
		return nil, err
	}
	return &TrainLoader{tokens: tokens, s: shape{B, T}, seed: seed}, nil
}

// Batch writes batch k into inputs and targets, each of length B*T and
// laid out (B, T): targets are inputs shifted left by one token.
func (l *TrainLoader) Batch(k int, inputs, targets []int32) error {
	if k < 0 {
		return fmt.Errorf("data: training batch %d; steps count from 0", k)
	}
	if len(l.tokens) <= l.s.T {
		return errNotMade
	}
	if err := checkBuffers(inputs, targets, l.s); err != nil {
		return err
	}
	T := l.s.T
	for b := range l.s.B {
		fill(inputs[b*T:(b+1)*T], targets[b*T:(b+1)*T], l.tokens, l.Offset(k, b))
	}
	return nil
}

// Offset is where sequence b of batch k starts. The B offsets of a batch
// are a splitmix64 stream seeded by a hash of (seed, k), mapped onto the
// n-T valid starts with a multiply-shift, which needs no division and whose
// bias is below n/2^64.
func (l *TrainLoader) Offset(k, b int) int {
	h := splitmix64(splitmix64(l.seed) ^ uint64(k))
	x := splitmix64(h + uint64(b)*golden)
	hi, _ := bits.Mul64(x, uint64(max(len(l.tokens)-l.s.T, 0)))
	return int(hi)
}

// ValLoader serves validation batches: the split is cut into W windows of
// T+1 tokens at offsets 0, T, 2T, ... (each window's last target is the
// next one's first input), and batch i takes windows iB .. iB+B-1, wrapping
// around past W. Every evaluation therefore sees the same data.
type ValLoader struct {
	tokens []uint16
	s      shape
	w      int // number of windows
}

// NewValLoader serves batches of shape (B, T) from tokens, which must hold
// at least T+1. The loader keeps tokens without copying them.
func NewValLoader(tokens []uint16, B, T int) (*ValLoader, error) {
	if err := checkShape(len(tokens), B, T, "validation"); err != nil {
		return nil, err
	}
	return &ValLoader{tokens: tokens, s: shape{B, T}, w: (len(tokens) - 1) / T}, nil
}

// Shape is the batch shape (B, T).
func (l *ValLoader) Shape() (B, T int) { return l.s.B, l.s.T }

// Len is the number of batches that cover the validation split once; the
// last one may wrap around to the first windows.
func (l *ValLoader) Len() int {
	if l.s.B == 0 {
		return 0
	}
	return (l.w + l.s.B - 1) / l.s.B
}

// Batch writes validation batch i into inputs and targets, each of length
// B*T and laid out (B, T).
func (l *ValLoader) Batch(i int, inputs, targets []int32) error {
	if i < 0 {
		return fmt.Errorf("data: validation batch %d; batches count from 0", i)
	}
	if l.w == 0 {
		return errNotMade
	}
	if err := checkBuffers(inputs, targets, l.s); err != nil {
		return err
	}
	hi, lo := bits.Mul64(uint64(i), uint64(l.s.B))
	first := bits.Rem64(hi, lo, uint64(l.w)) // i*B mod W, exact for any i
	T := l.s.T
	for b := range l.s.B {
		off := int((first+uint64(b))%uint64(l.w)) * T
		fill(inputs[b*T:(b+1)*T], targets[b*T:(b+1)*T], l.tokens, off)
	}
	return nil
}

var errNotMade = errors.New("data: loader used without NewTrainLoader, NewValLoader or Dataset.Loaders")

// fill copies the sequence of T+1 tokens at off into inp and tgt (T each).
func fill(inp, tgt []int32, tokens []uint16, off int) {
	s := tokens[off : off+len(inp)+1]
	for t := range inp {
		inp[t] = int32(s[t])
		tgt[t] = int32(s[t+1])
	}
}

func checkShape(n, B, T int, split string) error {
	if B < 1 || T < 1 {
		return fmt.Errorf("data: batch shape B=%d, T=%d; both must be at least 1", B, T)
	}
	if n < T+1 {
		return field.Errorf("context", "data: the %s split has only %d tokens; need at least T+1 = %d for {context} %d (use a larger corpus or a smaller {context})", split, n, T+1, T)
	}
	return nil
}

func checkBuffers(inputs, targets []int32, s shape) error {
	if len(inputs) != s.B*s.T || len(targets) != s.B*s.T {
		return fmt.Errorf("data: batch buffers hold %d inputs and %d targets; both must be B*T = %d*%d = %d", len(inputs), len(targets), s.B, s.T, s.B*s.T)
	}
	return nil
}

// golden is 2^64 divided by the golden ratio, splitmix64's increment.
const golden = 0x9e3779b97f4a7c15

// splitmix64 is the finaliser of Steele, Lea and Flood's SplitMix64: a
// bijective mix in which every input bit affects every output bit.
func splitmix64(x uint64) uint64 {
	x += golden
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
