// The baton version a binary was built from, read from its Go build info.

package runtime

import "runtime/debug"

// BuildVersion is the module version and the VCS state of the build.
type BuildVersion struct {
	Module   string `json:"module"`             // "v1.2.3", or "(devel)" for a build from a working tree
	Revision string `json:"revision,omitempty"` // the commit, when the build stamped one
	Modified bool   `json:"modified,omitempty"` // the working tree had uncommitted changes
}

// Version is the running binary's version; a binary without build info
// (never one go build makes) reports "unknown".
func Version() BuildVersion {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return BuildVersion{Module: "unknown"}
	}
	v := BuildVersion{Module: bi.Main.Version}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.Revision = s.Value
		case "vcs.modified":
			v.Modified = s.Value == "true"
		}
	}
	return v
}

// String is one line a person can quote in a bug report: the module
// version (since Go 1.24 a pseudo-version that names the commit, with
// "+dirty" for a modified tree), or for a "(devel)" build the commit.
func (v BuildVersion) String() string {
	if v.Module != "(devel)" || v.Revision == "" {
		return v.Module
	}
	s := v.Module + " " + v.Revision
	if v.Modified {
		s += "+dirty"
	}
	return s
}
