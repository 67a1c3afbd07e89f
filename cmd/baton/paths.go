// Outputs never overwrite inputs: every path a command writes checked against every path it reads, before anything is written.

package main

import (
	"baton/internal/fsutil"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// pathFlag is a path given to a flag; dir says the command writes or reads
// a whole directory there (a file otherwise).
type pathFlag struct {
	flag, path string
	dir        bool
}

// resolved is p made absolute, with symbolic links followed as far as the
// path exists, so that two spellings of one place compare equal.
func resolved(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for at := abs; ; {
		if real, err := filepath.EvalSymlinks(at); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(at)
		if parent == at {
			return abs
		}
		rest = filepath.Join(filepath.Base(at), rest)
		at = parent
	}
}

// within says whether p is dir or lies under it.
func within(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && (rel == "." || rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)))
}

// checkOutputs refuses an output that is another output or an input, or
// one of the files a run writes in an output directory, lies inside an input
// directory (a resumed run would read its own outputs as data), or holds
// an input (a file, or a checkpoint directory) where a run rewrites its
// output directory. Unset paths are skipped.
func checkOutputs(outputs, inputs []pathFlag) error {
	for i, o := range outputs {
		if o.path == "" {
			continue
		}
		op := resolved(o.path)
		for _, other := range outputs[i+1:] {
			if other.path == "" {
				continue
			}
			xp := resolved(other.path)
			if xp == op {
				return fmt.Errorf("%s %s is also %s: one output would overwrite the other; give each its own path", o.flag, o.path, other.flag)
			}
			for _, pair := range [][2]pathFlag{{o, other}, {other, o}} {
				dir, file := pair[0], pair[1]
				if dp, fp := resolved(dir.path), resolved(file.path); dir.dir && within(fp, dp) && runFileOf(dp, fp) != "" {
					return fmt.Errorf("%s %s is in %s %s, where a run writes its own %s; write it elsewhere", file.flag, file.path, dir.flag, dir.path, runFileOf(dp, fp))
				}
			}
		}
		for _, in := range inputs {
			if in.path == "" {
				continue
			}
			ip := resolved(in.path)
			own := "" // what a run writes in o that ip is or lies in
			if o.dir && within(ip, op) {
				own = runFileOf(op, ip)
			}
			switch {
			case op == ip:
				return fmt.Errorf("%s %s is also %s: an output would overwrite an input; write it somewhere else", o.flag, o.path, in.flag)
			case in.dir && within(op, ip):
				return fmt.Errorf("%s %s lies inside %s %s: baton would read its own output as input; write it outside", o.flag, o.path, in.flag, in.path)
			case own != "":
				return fmt.Errorf("%s %s is in %s %s, where a run writes its own %s; move it out", in.flag, in.path, o.flag, o.path, own)
			}
		}
	}
	return nil
}

// runFileOf is the file or directory a run writes in its directory op that
// ip is, or lies in (the checkpoint, a save's .tmp and .old beside it, the
// ranks' parts), or "" where ip is none of them.
func runFileOf(op, ip string) string {
	rel, _ := filepath.Rel(op, ip)
	first, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
	switch first {
	case "summary.json", "trace.json", "timeline.svg", "run.json", "metrics.jsonl",
		"checkpoint", "checkpoint.tmp", "checkpoint.old", "ranks":
		return first
	}
	return ""
}

// isDir says whether p names an existing directory.
func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// probeFileDir checks, before any work, that an output file can be made
// at path (flag names it): its directory is there and takes a new file,
// as the file's atomic write will need at the end (fsutil.WriteAtomic;
// a device or pipe is written into, and not probed). Unlike --out, such a
// file's directory is not made: a mistyped one is refused, not created.
func probeFileDir(flag, path string) error {
	if path == "" {
		return nil
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return usage(fmt.Errorf("%s %s is a directory; give a file path", flag, path))
		}
		return nil // a device or a pipe (/dev/null), which is written into as it is
	}
	if err := fsutil.ProbeWrite(filepath.Dir(path)); err != nil {
		why := err
		var pe *fs.PathError
		if errors.As(err, &pe) {
			why = pe.Err // what the system said, without the probe's own name
		}
		return usage(fmt.Errorf("%s %s: cannot write beside it (%v); give a path in a directory that exists and baton can write to", flag, path, why))
	}
	return nil
}
