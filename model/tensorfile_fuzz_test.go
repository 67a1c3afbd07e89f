// Fuzzing of the safetensors parse-and-check path that Load runs on model.safetensors.

package model

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/nlpodyssey/safetensors"
)

// fuzzConfig is smaller still than the tiny preset: its file is 2.5 KB
// rather than 140 KB, which the fuzzer mutates and minimizes far faster
// (with tiny's file it spends most of its time minimizing).
var fuzzConfig = Config{V: 8, MaxT: 4, C: 4, NH: 2, L: 1}

// modelFileBytes is a valid model.safetensors of c with random contents.
func modelFileBytes(t testing.TB, c Config) []byte {
	params := randomTensors(c, rand.New(rand.NewPCG(1, 2)))
	var buf bytes.Buffer
	if err := encodeTensors(&buf, c.AllTensors(), params); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func FuzzLoadSafetensors(f *testing.F) {
	c := fuzzConfig
	valid := modelFileBytes(f, c)
	f.Add(valid)
	f.Add(valid[:len(valid)/2])
	f.Add(valid[:8+binary.LittleEndian.Uint64(valid)])
	huge := bytes.Clone(valid)
	binary.LittleEndian.PutUint64(huge, 1<<63)
	f.Add(huge)
	// Well-formed files that fail the checks, so mutations start near them.
	for _, extra := range []struct {
		name  string
		dt    safetensors.DType
		shape []uint64
	}{
		{"wte.weight", safetensors.F16, []uint64{8, 4}},
		{"wpe.weight", safetensors.F32, []uint64{4, 5}},
		{"lm_head.weight", safetensors.F32, []uint64{1}},
	} {
		st, err := safetensors.Deserialize(valid)
		if err != nil {
			f.Fatal(err)
		}
		views := map[string]safetensors.TensorView{}
		for _, nv := range st.Tensors() {
			views[nv.Name] = nv.TensorView
		}
		views[extra.name] = view(f, extra.dt, extra.shape...)
		b, err := safetensors.Serialize(views, nil)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("\x02\x00\x00\x00\x00\x00\x00\x00{}"))

	want := c.AllTensors()
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeTensors("fuzz/model.safetensors", data, want, c)
		if err != nil {
			return
		}
		for _, w := range want {
			if len(got[w.Name]) != w.Elems() {
				t.Fatalf("accepted file gives %s %d values, want %d", w.Name, len(got[w.Name]), w.Elems())
			}
		}
		if len(got) != len(want) {
			t.Fatalf("accepted file gives %d tensors, want %d", len(got), len(want))
		}
	})
}

func TestDecodeValidTinyFile(t *testing.T) {
	ck := tinyCheckpoint(1)
	var buf bytes.Buffer
	if err := encodeTensors(&buf, ck.Config.AllTensors(), ck.Params); err != nil {
		t.Fatal(err)
	}
	got, err := decodeTensors("tiny", buf.Bytes(), ck.Config.AllTensors(), ck.Config)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, "Params", got, ck.Params)
}

// TestDecodeAlignedOrNot: a file whose float32s sit at addresses a float32
// may not start at (the header's length not a multiple of 4, or the bytes
// read into memory at an odd address) decodes to the same values as one
// decoded in place.
func TestDecodeAlignedOrNot(t *testing.T) {
	c := fuzzConfig
	file := modelFileBytes(t, c)
	want, err := decodeTensors("aligned", file, c.AllTensors(), c)
	if err != nil {
		t.Fatal(err)
	}
	odd := make([]byte, len(file)+1)[1:]
	copy(odd, file)
	got, err := decodeTensors("odd", odd, c.AllTensors(), c)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if len(got[name]) != len(w) {
			t.Fatalf("%s: %d values, want %d", name, len(got[name]), len(w))
		}
		for i := range w {
			if got[name][i] != w[i] {
				t.Fatalf("%s[%d] = %v at an odd address, %v in place", name, i, got[name][i], w[i])
			}
		}
	}
}
