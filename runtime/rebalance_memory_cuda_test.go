//go:build cuda

// A move on CUDA partitions hands the memory of the stages it drops back to their allocators.

package runtime

import "testing"

// TestCUDAMovesFreeTheStagesTheyDrop is TestMovesFreeTheStagesTheyDrop on
// two partitions of a GPU, each with an allocator of its own.
func TestCUDAMovesFreeTheStagesTheyDrop(t *testing.T) { movesFreeTheStagesTheyDrop(t, "cuda:0/2") }
