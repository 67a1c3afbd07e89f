// Writing a sweep's files: <date>-<machine>.md, .csv, and the charts as SVG and PNG.

package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"baton/internal/fsutil"
)

// Write puts the report, its CSV and its charts under dir and returns the
// paths written. Chart files are prefixed with the report's base name so
// that reports of several machines can share a directory.
func Write(dir string, rep Report, rs []Result) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--out: %v", err)
	}
	base := rep.Date.Format("2006-01-02") + "-" + rep.Machine.Slug()
	if rep.Tag != "" {
		base += "-" + rep.Tag
	}
	charts, err := Charts(OfPrecision(rs, rep.Options.precisions()[0].String()))
	if err != nil {
		return nil, err
	}
	var paths []string
	rep.CSV = base + ".csv"
	rep.Charts = nil
	for _, c := range charts {
		c.Name = base + "-" + c.Name
		if err := c.Save(dir); err != nil {
			return nil, fmt.Errorf("chart %s: %w", c.Name, err)
		}
		rep.Charts = append(rep.Charts, c.Name)
		paths = append(paths, filepath.Join(dir, c.Name+".svg"), filepath.Join(dir, c.Name+".png"))
	}
	var csvBuf, md bytes.Buffer
	if err := WriteCSV(&csvBuf, append(slices.Clip(rs), rep.Peer...)); err != nil {
		return nil, err
	}
	if err := WriteMarkdown(&md, rep, rs); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		b    []byte
	}{{rep.CSV, csvBuf.Bytes()}, {base + ".md", md.Bytes()}} {
		p := filepath.Join(dir, f.name)
		if err := fsutil.WriteFileAtomic(p, f.b); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
