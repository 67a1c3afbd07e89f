// Flag names live only in cmd/baton: no string literal in runtime/ or model/ (tests aside) spells one.

package runtime

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var flagLike = regexp.MustCompile(`--[a-z][a-z-]+`)

// TestNoFlagNames: lower layers name a configuration's fields (see
// internal/field); only the CLI turns them into flags.
func TestNoFlagNames(t *testing.T) {
	fset := token.NewFileSet()
	for _, root := range []string{"runtime", "model"} {
		err := filepath.WalkDir(filepath.Join("..", root), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel := filepath.ToSlash(strings.TrimPrefix(path, ".."+string(filepath.Separator)))
			if d.IsDir() {
				if d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if flag := flagLike.FindString(lit.Value); flag != "" {
						t.Errorf("%s:%d: %s spells the flag %s; name the field (field.Errorf) and let the CLI render it",
							rel, fset.Position(lit.Pos()).Line, lit.Value, flag)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
