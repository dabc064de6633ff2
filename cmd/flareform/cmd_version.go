package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/cmd/flareform/view"
	"github.com/flareform/flareform/localcf/workerd"
)

func newVersionCmd(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print flareform's version",
		Long:    "Print flareform's version (module version and VCS revision when built from a checkout), the Go version and the pinned workerd.",
		Example: "  flareform version\n  flareform version --json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			if root.JSON {
				return view.JSON(root.IO.Out, v)
			}
			_, err := fmt.Fprintf(root.IO.Out, "flareform %s\n", v)
			return err
		},
	}
}

// String is the one-line version: `flareform --version` and `flareform version` print it.
func (v versionInfo) String() string {
	s := v.Version
	if v.Revision != "" {
		s += " (" + v.Revision + ")"
	}
	return s + " " + v.Go + ", workerd " + v.Workerd
}

type versionInfo struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Go       string `json:"go"`
	Workerd  string `json:"workerd"`
}

// buildVersion reads the version Go stamped into the binary, so no -ldflags variable is needed.
func buildVersion() versionInfo {
	v := versionInfo{Version: "(devel)", Go: runtime.Version(), Workerd: workerd.PinnedVersion}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	if info.Main.Version != "" {
		v.Version = info.Main.Version
	}
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" {
			v.Revision = s.Value
		}
	}
	return v
}
