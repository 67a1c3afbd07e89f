// baton devices: the GPUs (with SMs, memory and the peer-access matrix) and the virtual CPU devices this binary can use.

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"baton/internal/words"
	"baton/model"
	"baton/runtime/device"
)

func devicesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the GPUs and virtual CPU devices this binary can train on",
		Long: `devices lists every GPU the CUDA driver reports (index, name, compute
capability, SMs, memory, how many SM partitions cuda:N/K may split it into,
and which GPUs can copy to each other directly) and the virtual CPU devices.
A binary built without -tags cuda lists only the virtual CPU devices.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDevices(cmd.OutOrStdout(), asJSON)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the list as JSON")
	return cmd
}

func runDevices(out io.Writer, asJSON bool) error {
	devs, driver, err := device.List()
	if asJSON {
		v := struct {
			CUDABuild bool          `json:"cuda_build"`
			Driver    string        `json:"driver,omitempty"`
			Error     string        `json:"error,omitempty"`
			Devices   []device.Info `json:"devices"`
		}{CUDABuild: device.Available(device.KindCUDA), Driver: driver, Devices: devs}
		if err != nil {
			v.Error = err.Error()
		}
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	var gpus []device.Info
	for _, d := range devs {
		if d.Kind == "cuda" {
			gpus = append(gpus, d)
		}
	}
	switch {
	case !device.Available(device.KindCUDA):
		fmt.Fprintln(out, "GPUs: none (this binary was built without CUDA support; build with -tags cuda)")
	case err != nil:
		fmt.Fprintf(out, "GPUs: the CUDA driver could not be asked: %v\n", err)
	case len(gpus) == 0:
		fmt.Fprintf(out, "GPUs: none (driver %s)\n", driver)
	default:
		fmt.Fprintf(out, "GPUs (driver %s):\n", driver)
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  device\tname\tcompute\tSMs\tmemory\tpartitions\tUUID\t")
		for _, g := range gpus {
			parts := "streams only"
			if g.MaxPartitions > 0 {
				parts = fmt.Sprintf("cuda:%d/1 … cuda:%d/%d", g.Index, g.Index, g.MaxPartitions)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%.1f GiB\t%s\t%s\t\n", g.Name, g.Model, g.Compute, g.SMs, float64(g.Memory)/(1<<30), parts, g.UUID)
		}
		tw.Flush()
		for _, g := range gpus {
			if g.Note != "" {
				fmt.Fprintf(out, "  %s: %s\n", g.Name, g.Note)
			}
		}
		if len(gpus) > 1 {
			fmt.Fprintln(out, "peer access (row copies directly into column; no: staged through pinned host memory):")
			tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			head := []string{"  "}
			for _, g := range gpus {
				head = append(head, g.Name)
			}
			fmt.Fprintln(tw, strings.Join(head, "\t")+"\t")
			for _, g := range gpus {
				row := []string{"  " + g.Name}
				for j, ok := range g.Peer {
					switch {
					case j == g.Index:
						row = append(row, "-")
					case ok:
						row = append(row, "yes")
					default:
						row = append(row, "no")
					}
				}
				fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
			}
			tw.Flush()
		}
	}
	for _, d := range devs {
		if d.Kind == "cpu" {
			fmt.Fprintf(out, "CPU: %s, %s, %s, %s: %s\n", d.Name, d.Model, words.Count(d.SMs, "CPU"), model.HumanBytes(d.Memory), d.Note)
		}
	}
	return nil
}
