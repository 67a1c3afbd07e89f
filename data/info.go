// Info: a printable summary of a Dataset for the CLI and benchmark tables.

package data

import (
	"baton/internal/words"
	"fmt"
	"strings"
)

// Info summarises a Dataset.
type Info struct {
	Source      string `json:"source"`
	Format      Format `json:"format"`
	Files       int    `json:"files"`
	TrainTokens int    `json:"train_tokens"`
	ValTokens   int    `json:"val_tokens"`
	V           int    `json:"vocab_size"`
	MaxToken    int    `json:"max_token"`
	Split       string `json:"split"`
	Subset      string `json:"subset,omitempty"`
}

// Describe summarises d.
func (d *Dataset) Describe() Info {
	return Info{
		Source:      d.Source,
		Format:      d.Format,
		Files:       len(d.Files),
		TrainTokens: len(d.Train),
		ValTokens:   len(d.Val),
		V:           d.V,
		MaxToken:    d.MaxToken,
		Split:       d.Split,
		Subset:      d.Subset,
	}
}

// String is a few aligned lines, one fact per line.
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "data:   %s (%s, %s)\n", i.Source, i.Format, words.Count(i.Files, "file"))
	if i.Subset != "" {
		fmt.Fprintf(&b, "subset: %s\n", i.Subset)
	}
	fmt.Fprintf(&b, "tokens: %d train, %d val (%s)\n", i.TrainTokens, i.ValTokens, i.Split)
	fmt.Fprintf(&b, "vocab:  %d (largest token seen %d)", i.V, i.MaxToken)
	return b.String()
}
