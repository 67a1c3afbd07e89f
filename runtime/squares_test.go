// A squares message from another rank is checked before it is read: a count of squares that is no whole number within its values fails the step, not the process.

package runtime

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"baton/runtime/dist"
)

func TestMalformedSquaresMessageIsRefused(t *testing.T) {
	for _, count := range []float64{-1, math.NaN(), math.Inf(1), math.Inf(-1), 1.5, 3, 1e300, -1e300} {
		r := &run{ex: &Executor{Stages: make([]*Stage, 2)}, squares: make([][]float64, 2)}
		msg := dist.EncodeFloat64s([]float64{count, 0.25, 0.5}) // two values after the count
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = fmt.Errorf("panic: %v", p)
				}
			}()
			return r.publishRemote(0, msg)
		}()
		if err == nil || !strings.Contains(err.Error(), "says it holds") {
			t.Errorf("a squares message that counts %v squares before 2 values: %v, want it refused", count, err)
		}
	}
	r := &run{ex: &Executor{Stages: make([]*Stage, 2)}, squares: make([][]float64, 2)}
	if err := r.publishRemote(0, dist.EncodeFloat64s([]float64{2, 0.25, 0.5})); err != nil || len(r.squares[0]) != 2 {
		t.Errorf("a well-formed squares message: %v, squares %v", err, r.squares[0])
	}
}
