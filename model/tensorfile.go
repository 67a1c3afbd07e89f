// Safetensors files of F32 tensors: streaming encode, and a decode (of F32, F16 or BF16) that checks every name, dtype, shape and value.

package model

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"unsafe"

	"github.com/nlpodyssey/safetensors"
	"github.com/x448/float16"
)

// maxHeaderBytes is the safetensors format's own limit on the JSON header;
// with the expected data size it bounds how much of a file Load reads.
const maxHeaderBytes = 100_000_000

// f32View is a safetensors.View of float32s: on a little-endian machine its
// bytes are the floats' own memory, elsewhere a little-endian copy made when
// the writer asks for them. A copy per tensor would be garbage as large as
// the checkpoint that the collector frees only once the heap has doubled:
// GPT-2 124M's save peaked at 1.6 times the training's memory with it.
type f32View struct {
	shape []uint64
	data  []float32
}

func (v f32View) DType() safetensors.DType { return safetensors.F32 }
func (v f32View) Shape() []uint64          { return v.shape }
func (v f32View) DataLen() uint64          { return 4 * uint64(len(v.data)) }
func (v f32View) Data() []byte {
	if len(v.data) == 0 {
		return nil
	}
	if littleEndian {
		return unsafe.Slice((*byte)(unsafe.Pointer(&v.data[0])), 4*len(v.data))
	}
	b := make([]byte, 4*len(v.data))
	for i, x := range v.data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	return b
}

// littleEndian says whether this machine stores a float32 as safetensors does.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// encodeTensors writes the named tensors (already checked against their
// shapes) as one safetensors file. The "format": "pt" metadata is what
// transformers expects of a PyTorch checkpoint.
func encodeTensors(w io.Writer, ts []Tensor, data map[string][]float32) error {
	views := make(map[string]f32View, len(ts))
	for _, t := range ts {
		shape := make([]uint64, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = uint64(d)
		}
		views[t.Name] = f32View{shape: shape, data: data[t.Name]}
	}
	return safetensors.SerializeToWriter(views, map[string]string{"format": "pt"}, w)
}

// readTensorFile reads and decodes a safetensors file that must hold exactly
// want. It checks the file size before reading so that a wrong or corrupted
// file cannot make it allocate more than the expected tensors plus the
// largest header the format allows.
func readTensorFile(path string, want []Tensor, c Config) (map[string][]float32, error) {
	f, st, err := openFile(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	limit := 8 + maxHeaderBytes + 4*sumElems(want)
	if st.Size() > limit {
		return nil, fmt.Errorf("checkpoint %s: file is %d bytes, more than the %d bytes of F32 tensors for %v plus the largest safetensors header; it holds another model or extra tensors",
			path, st.Size(), 4*sumElems(want), c)
	}
	buf := make([]byte, st.Size())
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, fmt.Errorf("checkpoint %s: read: %w", path, err)
	}
	return decodeTensors(path, buf, want, c)
}

// decodeTensors parses a whole safetensors file and returns want's tensors.
// Errors name the file and the tensor. It must not panic on any input:
// FuzzLoadSafetensors checks that.
func decodeTensors(path string, buf []byte, want []Tensor, c Config) (map[string][]float32, error) {
	if int64(len(buf)) > 8+maxHeaderBytes+4*sumElems(want) {
		return nil, fmt.Errorf("checkpoint %s: file is %d bytes, more than the tensors for %v and the largest header; it holds another model or extra tensors", path, len(buf), c)
	}
	if len(buf) >= 8 {
		// Say what the library's "invalid header length" means.
		if n := binary.LittleEndian.Uint64(buf); n > uint64(len(buf)-8) {
			return nil, fmt.Errorf("checkpoint %s: header length field says %d bytes but the file has only %d after it; the file is truncated or corrupted", path, n, len(buf)-8)
		}
	}
	st, err := safetensors.Deserialize(buf)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: not a valid safetensors file (%d bytes; truncated or corrupted): %w", path, len(buf), err)
	}
	out := make(map[string][]float32, len(want))
	wanted := make(map[string]bool, len(want))
	for _, t := range want {
		wanted[t.Name] = true
		tv, ok := st.Tensor(t.Name)
		if !ok {
			return nil, fmt.Errorf("checkpoint %s: missing tensor %s; the file and config.json (%v) describe different models", path, t.Name, c)
		}
		vals, err := tensorValues(path, tv, t, c)
		if err != nil {
			return nil, err
		}
		out[t.Name] = vals
	}
	var extra []string
	for _, name := range st.Names() {
		if !wanted[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		more := ""
		if len(extra) > 1 {
			more = fmt.Sprintf(" (and %d more)", len(extra)-1)
		}
		return nil, fmt.Errorf("checkpoint %s: unexpected tensor %s%s; config.json (%v) has no such parameter: the file holds another model", path, extra[0], more, c)
	}
	return out, nil
}

// elemBytes are the dtypes a stored tensor may have, and their sizes:
// float32, and the half precisions Hugging Face models are often saved in,
// which widen to float32 exactly.
var elemBytes = map[safetensors.DType]int{safetensors.F32: 4, safetensors.F16: 2, safetensors.BF16: 2}

// tensorValues checks one stored tensor against t (F32, F16 or BF16, t's
// shape, every value finite) and returns its values as float32; errors name
// the file and the tensor.
func tensorValues(path string, tv safetensors.TensorView, t Tensor, c Config) ([]float32, error) {
	size, ok := elemBytes[tv.DType()]
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: tensor %s has dtype %v; baton reads F32, F16 and BF16: convert the checkpoint to one of them", path, t.Name, tv.DType())
	}
	if !sameShape(tv.Shape(), t.Shape) {
		return nil, fmt.Errorf("checkpoint %s: tensor %s has shape %v, want %v for %s", path, t.Name, tv.Shape(), t.Shape, shapeReason(c, t.Name))
	}
	raw := tv.Data()
	if len(raw) != size*t.Elems() { // the library checks this; a panic here would cost more than the test
		return nil, fmt.Errorf("checkpoint %s: tensor %s has %d bytes, want %d", path, t.Name, len(raw), size*t.Elems())
	}
	var vals []float32
	if tv.DType() == safetensors.F32 {
		vals = f32Alias(raw)
	}
	switch {
	case vals != nil:
	case tv.DType() == safetensors.F32:
		vals = make([]float32, t.Elems())
		for i := range vals {
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
		}
	case tv.DType() == safetensors.F16:
		vals = make([]float32, t.Elems())
		for i := range vals {
			vals[i] = float16.Frombits(binary.LittleEndian.Uint16(raw[2*i:])).Float32()
		}
	default: // BF16: float32's upper half
		vals = make([]float32, t.Elems())
		for i := range vals {
			vals[i] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*i:])) << 16)
		}
	}
	// Found here, a NaN names its tensor; found by training, it would
	// surface steps later as a diverged loss.
	if i := firstNonFinite(vals); i >= 0 {
		return nil, fmt.Errorf("checkpoint %s: tensor %s holds %v at index %d of %d; a checkpoint holds finite numbers only: the file is damaged or was written by a run that diverged", path, t.Name, vals[i], i, len(vals))
	}
	return vals, nil
}

// f32Alias is raw's float32 values in raw's own memory, where this machine
// stores a float32 as safetensors does and raw is aligned for one (the
// format pads its header to 8 bytes; a file that does not gets a copy);
// nil otherwise. Converting a checkpoint of GPT-2 124M value by value took
// 2 of the 3.4 seconds its load took, most of it faulting in 500 MB of new
// pages.
func f32Alias(raw []byte) []float32 {
	if !littleEndian || len(raw) == 0 || uintptr(unsafe.Pointer(&raw[0]))%4 != 0 {
		return nil
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(&raw[0])), len(raw)/4)
}

// firstNonFinite is the index of the first NaN or infinity in v, or -1.
func firstNonFinite(v []float32) int {
	for i, x := range v {
		// x-x is 0 for every finite x and NaN for NaN and ±Inf.
		if x-x != 0 {
			return i
		}
	}
	return -1
}

func sameShape(got []uint64, want []int) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != uint64(want[i]) {
			return false
		}
	}
	return true
}

// shapeReason names the config fields that determine a tensor's shape,
// so a shape error points at the field that disagrees.
func shapeReason(c Config, name string) string {
	for _, p := range []string{mPrefix, vPrefix} {
		name = strings.TrimPrefix(name, p)
	}
	switch name {
	case "wte.weight":
		return fmt.Sprintf("vocab_size=%d, n_embd=%d", c.V, c.C)
	case "wpe.weight":
		return fmt.Sprintf("n_positions=%d, n_embd=%d", c.MaxT, c.C)
	}
	return fmt.Sprintf("n_embd=%d", c.C)
}
