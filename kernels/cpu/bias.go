// Bias: the bias ops of a linear layer, forward (a row broadcast) and backward (column sums).

package cpu

import "baton/kernels"

// biasTask adds bias to every row of out (BiasForward).
type biasTask struct {
	out, bias []float32
	OC        int
	simd      *simd
}

var biasTasks taskPool[biasTask]

// BiasForward: out (N,OC) += bias (OC) on every row.
func (o *Ops) BiasForward(out, bias kernels.Buffer, N, OC int) {
	t := biasTasks.get()
	*t = biasTask{out: need("BiasForward", "out", out, N*OC), bias: need("BiasForward", "bias", bias, OC), OC: OC, simd: o.simd}
	o.parallel(N, o.grain(N, OC), t)
	biasTasks.put(t)
}

func (t *biasTask) run(lo, hi int) {
	for n := lo; n < hi; n++ {
		row := t.out[n*t.OC : (n+1)*t.OC]
		if t.simd != nil {
			t.simd.add(row, row, t.bias)
			continue
		}
		for j, b := range t.bias {
			row[j] += b
		}
	}
}

// colSumWidth is how many columns one column-sum item covers: a stack array
// of float64 accumulators that the row loop updates left to right.
const colSumWidth = 64

// biasBackTask sums dout's columns into dbias; items are column groups so
// that every column still sums its rows in order 0..N-1.
type biasBackTask struct {
	dbias, dout []float32
	N, OC       int
	simd        *simd
}

var biasBackTasks taskPool[biasBackTask]

// BiasBackward: dbias (OC) += column sums of dout (N,OC), summed in float64
// row by row so the result is independent of the worker count.
func (o *Ops) BiasBackward(dbias, dout kernels.Buffer, N, OC int) {
	t := biasBackTasks.get()
	*t = biasBackTask{dbias: need("BiasBackward", "dbias", dbias, OC), dout: need("BiasBackward", "dout", dout, N*OC), N: N, OC: OC, simd: o.simd}
	groups := (OC + colSumWidth - 1) / colSumWidth
	o.parallel(groups, o.grain(groups, N*colSumWidth), t)
	biasBackTasks.put(t)
}

func (t *biasBackTask) run(lo, hi int) {
	for g := lo; g < hi; g++ {
		j0 := g * colSumWidth
		j1 := min(j0+colSumWidth, t.OC)
		if t.simd != nil {
			t.simd.addColSums(t.dbias[j0:j1], t.dout[j0:], t.N, t.OC)
		} else {
			addColSums(t.dbias[j0:j1], t.dout[j0:], t.N, t.OC)
		}
	}
}

// addColSums: dst[j] += the sum of src[r*ld+j] over r = 0..rows-1, added
// in order in float64, for j < len(dst) <= colSumWidth.
func addColSums(dst, src []float32, rows, ld int) {
	var acc [colSumWidth]float64
	s := acc[:len(dst)]
	for r := 0; r < rows; r++ {
		row := src[r*ld : r*ld+len(s)]
		for j, v := range row {
			s[j] += float64(v)
		}
	}
	for j, v := range s {
		dst[j] += float32(v)
	}
}
