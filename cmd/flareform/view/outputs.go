package view

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/flareform/flareform/provision"
)

// Outputs writes the output command's table: one row per worker with its URL, whether it
// exists and the version that serves ("-" when none).
func Outputs(w io.Writer, outs []provision.Output) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tURL\tEXISTS\tVERSION")
	for _, o := range outs {
		version := o.VersionID
		if version == "" {
			version = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\n", o.Name, o.URL, o.Exists, version)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}
