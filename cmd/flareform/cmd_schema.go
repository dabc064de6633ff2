package main

import (
	"github.com/spf13/cobra"

	"github.com/flareform/flareform/provision/spec"
)

func newSchemaCmd(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema of flareform.yaml",
		Long: `Print the JSON Schema of the spec, generated from the table the loader checks specs with
(the same as docs/flareform.schema.json). Editors with yaml-language-server use it through
the "# yaml-language-server: $schema=..." first line that init writes.`,
		Example: "  flareform schema > flareform.schema.json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := root.IO.Out.Write(spec.JSONSchema())
			return err
		},
	}
}
