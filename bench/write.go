// Writing a sweep's files: <date>-<machine>.md, .csv, and the charts as SVG and PNG.

package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"baton/internal/fsutil"
)

// Stem is the start of every file name of a sweep: <date>-<machine>, then
// -<tag> when the sweep has one.
func Stem(date time.Time, m Machine, tag string) string {
	s := date.Format("2006-01-02") + "-" + m.Slug()
	if tag != "" {
		s += "-" + tag
	}
	return s
}

// FileNames are the names of every file a sweep of stem may write: the
// report, its CSV, and each kind of chart as SVG and PNG.
func FileNames(stem string) []string {
	names := []string{stem + ".md", stem + ".csv"}
	for _, k := range chartKinds {
		names = append(names, stem+"-"+k+".svg", stem+"-"+k+".png")
	}
	return names
}

// Write puts the report, its CSV and its charts under dir and returns the
// paths written and those removed: an earlier sweep's charts of the same
// stem that this one does not draw, which would otherwise lie beside a
// report that does not show them. Chart files are prefixed with the
// report's stem so that reports of several machines can share a directory.
// Every file is drawn before the first is written, and none is written once
// ctx is done: a sweep stopped meanwhile leaves no report.
func Write(ctx context.Context, dir string, rep Report, rs []Result) (written, removed []string, err error) {
	stem := Stem(rep.Date, rep.Machine, rep.Tag)
	charts, err := Charts(OfPrecision(rs, rep.Options.precisions()[0].String()))
	if err != nil {
		return nil, nil, err
	}
	type file struct {
		name string
		b    []byte
	}
	var files []file
	rep.CSV = stem + ".csv"
	rep.Charts = nil
	for _, c := range charts {
		c.Name = stem + "-" + c.Name
		svg, png, err := c.Render()
		if err != nil {
			return nil, nil, fmt.Errorf("chart %s: %w", c.Name, err)
		}
		rep.Charts = append(rep.Charts, c.Name)
		files = append(files, file{c.Name + ".svg", svg}, file{c.Name + ".png", png})
	}
	var csvBuf, md bytes.Buffer
	same, _ := SplitPeer(rep.Options.Preset, rep.Peer) // the CSV behind the tables: the peer rows compared, not those only listed
	if err := WriteCSV(&csvBuf, append(slices.Clip(rs), same...)); err != nil {
		return nil, nil, err
	}
	if err := WriteMarkdown(&md, rep, rs); err != nil {
		return nil, nil, err
	}
	files = append(files, file{rep.CSV, csvBuf.Bytes()}, file{stem + ".md", md.Bytes()})
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("--out: %v", err)
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := fsutil.WriteFileAtomic(p, f.b); err != nil {
			return written, nil, err
		}
		written = append(written, p)
	}
	for _, name := range FileNames(stem) {
		p := filepath.Join(dir, name)
		if slices.Contains(written, p) {
			continue
		}
		switch err := os.Remove(p); {
		case err == nil:
			removed = append(removed, p)
		case !errors.Is(err, fs.ErrNotExist):
			return written, removed, err
		}
	}
	return written, removed, nil
}
