// ReadTensors: a run's or a checkpoint's weights as gorgonia.org/tensor values by GPT-2 name, for Go programs that want them.

package model

import "gorgonia.org/tensor"

// ReadTensors reads the weights in dir (a baton run directory, a
// checkpoint directory or any GPT-2 directory, as LoadWeights reads them,
// without the warning of a fallback to <dir>.old that LoadWeights gives) as
// one *tensor.Dense of float32 per parameter, keyed by GPT-2 name and
// shaped as GPT-2's: linear weights (in, out), wte.weight (V, C) with V the
// padded vocabulary. The tensors own their data. No optimizer state is read.
func ReadTensors(dir string) (map[string]*tensor.Dense, *Config, error) {
	ck, err := LoadWeights(dir)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[string]*tensor.Dense, len(ck.Params))
	for _, t := range ck.Config.AllTensors() {
		out[t.Name] = tensor.New(tensor.WithShape(t.Shape...), tensor.WithBacking(ck.Params[t.Name]))
	}
	return out, &ck.Config, nil
}
