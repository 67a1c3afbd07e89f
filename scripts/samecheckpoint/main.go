// Command samecheckpoint tells whether two checkpoints hold the same model and moments, bit for bit, however each is laid out (one file, or the shards of several ranks): the scripts' check that ranks save what one process saves.
package main

import (
	"fmt"
	"math"
	"os"

	"baton/model"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: samecheckpoint DIR1 DIR2 (two checkpoint directories; exit 0 when their tensors are the same bits, 1 when not)")
		os.Exit(2)
	}
	a, b := load(os.Args[1]), load(os.Args[2])
	if a.Config != b.Config {
		fmt.Printf("differ: the models are %v and %v\n", a.Config, b.Config)
		os.Exit(1)
	}
	var bytes int64
	for _, t := range a.Config.AllTensors() {
		for _, kind := range []struct {
			name string
			a, b map[string][]float32
		}{{"", a.Params, b.Params}, {"m.", a.M, b.M}, {"v.", a.V, b.V}} {
			x, y := kind.a[t.Name], kind.b[t.Name]
			for i := range x {
				if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
					fmt.Printf("differ: %s%s[%d] is %v in %s and %v in %s\n", kind.name, t.Name, i, x[i], os.Args[1], y[i], os.Args[2])
					os.Exit(1)
				}
			}
			bytes += 4 * int64(len(x))
		}
	}
	fmt.Printf("same: %d tensors and their moments, %d bytes\n", len(a.Params), bytes)
}

// load reads a checkpoint with its moments, or exits saying why not.
func load(dir string) *model.Checkpoint {
	ck, err := model.LoadResume(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "samecheckpoint:", err)
		os.Exit(2)
	}
	return ck
}
