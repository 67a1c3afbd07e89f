//go:build cuda

// Embed: the generated PTX modules (kernels/cuda/ptx, built from src/ by
// scripts/build-kernels.sh and checked by scripts/check-ptx.sh), compiled into the binary.

package cuda

import (
	"embed"
	"io/fs"
	"path"
	"sort"
)

//go:embed ptx/*.ptx
var ptxFS embed.FS

// embeddedModule is one PTX file: its name (e.g. "layernorm.ptx") and text.
type embeddedModule struct {
	name string
	ptx  string
}

// embeddedModules returns every embedded PTX module, sorted by name.
func embeddedModules() ([]embeddedModule, error) {
	names, err := fs.Glob(ptxFS, "ptx/*.ptx")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	mods := make([]embeddedModule, 0, len(names))
	for _, n := range names {
		b, err := ptxFS.ReadFile(n)
		if err != nil {
			return nil, err
		}
		mods = append(mods, embeddedModule{name: path.Base(n), ptx: string(b)})
	}
	return mods, nil
}
