// The pure-Go register-blocked Gemm that lost to the gonum-kernel path; kept
// here so BenchmarkGemm can repeat the comparison quoted in gemm.go.

package cpu

import "testing"

// Pure-Go blocking: panels of pgMR rows of op(a) and pgNR columns of op(b),
// stored k-major, multiplied by a 4x2 register tile (eight accumulators are
// as many as Go's register allocator keeps out of memory on amd64).
const (
	pgMR = 4
	pgNR = 2
	pgMC = 64
	pgNC = 256
	pgKC = 256
)

type pgBufs struct {
	a [pgMC * pgKC]float32
	b [pgKC * pgNC]float32
}

type pureGemmTask struct {
	gemmTask
	bufs []*pgBufs // one per item, so items never share scratch
}

// pureGemm is Gemm with the pure-Go kernel (serial over tiles when workers is 1).
func pureGemm(o *Ops, transA, transB bool, M, N, K int, alpha float32, a, b []float32, beta float32, c []float32, bufs []*pgBufs) {
	t := &pureGemmTask{gemmTask: gemmTask{transA: transA, transB: transB, M: M, N: N, K: K, alpha: alpha, beta: beta, a: a, b: b, c: c}, bufs: bufs}
	tilesM := (M + pgMC - 1) / pgMC
	t.tilesN = (N + pgNC - 1) / pgNC
	o.parallel(tilesM*t.tilesN, 1, t)
}

func (g *pureGemmTask) run(lo, hi int) {
	p := g.bufs[lo%len(g.bufs)]
	for tile := lo; tile < hi; tile++ {
		i0 := tile / g.tilesN * pgMC
		j0 := tile % g.tilesN * pgNC
		g.tile(p, i0, min(i0+pgMC, g.M), j0, min(j0+pgNC, g.N))
	}
}

func (g *pureGemmTask) tile(p *pgBufs, i0, i1, j0, j1 int) {
	N := g.N
	for i := i0; i < i1; i++ {
		row := g.c[i*N+j0 : i*N+j1]
		for j := range row {
			if g.beta == 0 {
				row[j] = 0
			} else {
				row[j] *= g.beta
			}
		}
	}
	mc, nc := i1-i0, j1-j0
	for k0 := 0; k0 < g.K; k0 += pgKC {
		kc := min(pgKC, g.K-k0)
		g.packPanelsA(p.a[:], i0, mc, k0, kc)
		g.packPanelsB(p.b[:], j0, nc, k0, kc)
		for jr := 0; jr < nc; jr += pgNR {
			bp := p.b[jr*kc : (jr+pgNR)*kc]
			for ir := 0; ir < mc; ir += pgMR {
				ap := p.a[ir*kc : (ir+pgMR)*kc]
				off := (i0+ir)*N + j0 + jr
				kernel4x2(kc, ap, bp, g.alpha, g.c[off:], N, min(pgMR, mc-ir), min(pgNR, nc-jr))
			}
		}
	}
}

func (g *pureGemmTask) packPanelsA(dst []float32, i0, mc, k0, kc int) {
	for ir := 0; ir < mc; ir += pgMR {
		panel := dst[ir*kc : (ir+pgMR)*kc]
		for r := 0; r < pgMR; r++ {
			i := i0 + ir + r
			for k := 0; k < kc; k++ {
				var v float32
				if ir+r < mc {
					if g.transA {
						v = g.a[(k0+k)*g.M+i]
					} else {
						v = g.a[i*g.K+k0+k]
					}
				}
				panel[k*pgMR+r] = v
			}
		}
	}
}

func (g *pureGemmTask) packPanelsB(dst []float32, j0, nc, k0, kc int) {
	for jr := 0; jr < nc; jr += pgNR {
		panel := dst[jr*kc : (jr+pgNR)*kc]
		for c := 0; c < pgNR; c++ {
			j := j0 + jr + c
			for k := 0; k < kc; k++ {
				var v float32
				if jr+c < nc {
					if g.transB {
						v = g.b[j*g.K+k0+k]
					} else {
						v = g.b[(k0+k)*g.N+j]
					}
				}
				panel[k*pgNR+c] = v
			}
		}
	}
}

// kernel4x2 adds alpha * ap @ bp to the mr x nr corner of c (stride ldc);
// ap is a (kc, 4) panel, bp a (kc, 2) panel.
func kernel4x2(kc int, ap, bp []float32, alpha float32, c []float32, ldc, mr, nr int) {
	var c00, c01, c10, c11, c20, c21, c30, c31 float32
	for k := 0; k < kc; k++ {
		a := ap[4*k : 4*k+4 : 4*k+4]
		b := bp[2*k : 2*k+2 : 2*k+2]
		b0, b1 := b[0], b[1]
		c00 += a[0] * b0
		c01 += a[0] * b1
		c10 += a[1] * b0
		c11 += a[1] * b1
		c20 += a[2] * b0
		c21 += a[2] * b1
		c30 += a[3] * b0
		c31 += a[3] * b1
	}
	acc := [4][2]float32{{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}}
	for r := 0; r < mr; r++ {
		row := c[r*ldc : r*ldc+nr]
		for j := range row {
			row[j] += alpha * acc[r][j]
		}
	}
}

func newPGBufs(n int) []*pgBufs {
	b := make([]*pgBufs, n)
	for i := range b {
		b[i] = new(pgBufs)
	}
	return b
}

// TestPureGemm keeps the benchmark's rival honest.
func TestPureGemm(t *testing.T) {
	r := newRand(7)
	o := NewWorkers(3)
	for _, tr := range transposes {
		M, N, K := 70, 261, 300
		a, b := randF32(r, M*K), randF32(r, K*N)
		c := randF32(r, M*N)
		want := naiveGemm(tr[0], tr[1], M, N, K, 0.5, a, b, 2, c)
		pureGemm(o, tr[0], tr[1], M, N, K, 0.5, a, b, 2, c, newPGBufs(pgTiles(M, N)))
		checkClose(t, "pureGemm", c, want, 1e-5)
	}
}

// pgTiles is the number of items pureGemm splits (M, N) into.
func pgTiles(M, N int) int { return (M + pgMC - 1) / pgMC * ((N + pgNC - 1) / pgNC) }
