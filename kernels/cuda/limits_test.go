//go:build cuda

// The model's Config check and the attention kernels agree on the largest head.

package cuda

import (
	"testing"

	"baton/model"
)

func TestHeadSizeLimitMatchesModel(t *testing.T) {
	if model.CUDAMaxHeadSize != MaxHeadSize {
		t.Fatalf("model.CUDAMaxHeadSize = %d, kernels/cuda.MaxHeadSize = %d", model.CUDAMaxHeadSize, MaxHeadSize)
	}
}
