// baton version (and --version): the module version and commit the binary was built from.

package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"baton/runtime"
)

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the baton version: the module version, and the commit it was built from (+dirty: with uncommitted changes)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "baton", runtime.Version())
			return err
		},
	}
}
