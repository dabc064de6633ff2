package view

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/flareform/flareform/provision"
)

// Keys writes a worker's keys as a table: consumer, fingerprint, limit, state, created. Only
// fingerprints: a key never appears.
func Keys(w io.Writer, worker string, keys []provision.KeyInfo) {
	fmt.Fprintf(w, "Keys of %s:\n", worker)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CONSUMER\tFINGERPRINT\tLIMIT\tSTATE\tCREATED")
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", k.Consumer, orDash(k.Fingerprint), orDash(k.Limit), k.State, orDash(k.Created))
	}
	tw.Flush()
}
