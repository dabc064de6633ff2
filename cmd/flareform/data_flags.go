package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/flareform/flareform/provision"
)

// --delete-data and --keep-data: what plan, apply and destroy do with a KV namespace, R2
// bucket or D1 database flareform created, that the plan deletes, and that holds data
// (provision/kind_storage.go). Without either the plan marks it and apply refuses before any
// write: no data is ever lost by a plan.

const (
	deleteDataUsage = "delete storage (KV, R2, D1) flareform created that the plan deletes even when it holds data, with its data (an R2 bucket is emptied first)"
	keepDataUsage   = "leave storage flareform created that the plan would delete but that holds data as it is, with its data; flareform stops managing it"
)

// addDataFlags adds --delete-data and --keep-data to cmd.
func addDataFlags(cmd *cobra.Command, opts *rootOptions) {
	cmd.Flags().BoolVar(&opts.DeleteData, "delete-data", false, deleteDataUsage)
	cmd.Flags().BoolVar(&opts.KeepData, "keep-data", false, keepDataUsage)
}

// errDataFlags refuses both flags at once.
var errDataFlags = errors.New("--delete-data and --keep-data exclude each other: choose what happens to storage that holds data")

// dataPolicy is the policy the flags choose.
func (o *rootOptions) dataPolicy() (provision.DataPolicy, error) {
	switch {
	case o.DeleteData && o.KeepData:
		return provision.DataRefuse, errDataFlags
	case o.DeleteData:
		return provision.DataDelete, nil
	case o.KeepData:
		return provision.DataKeep, nil
	}
	return provision.DataRefuse, nil
}

// setDataPolicy sets the flags from a saved plan's choice.
func (o *rootOptions) setDataPolicy(p provision.DataPolicy) {
	o.DeleteData, o.KeepData = p == provision.DataDelete, p == provision.DataKeep
}

// dataFlagName is the flag that chooses p ("" for none).
func dataFlagName(p provision.DataPolicy) string {
	switch p {
	case provision.DataDelete:
		return "--delete-data"
	case provision.DataKeep:
		return "--keep-data"
	}
	return "neither --delete-data nor --keep-data"
}

// refuseDataLoss refuses, before the confirmation (a "yes" must not be enough to lose data), a
// plan that deletes storage holding data without a policy. command is what to run again.
func refuseDataLoss(plan *provision.Plan, command string) error {
	held := plan.DataRefused()
	if len(held) == 0 {
		return nil
	}
	return provision.DataRefusedError(held, command)
}

// savedDataConflict refuses a data flag that differs from the saved plan's choice.
func savedDataConflict(cmd *cobra.Command, o *rootOptions, saved provision.DataPolicy, path string) error {
	if !cmd.Flags().Changed("delete-data") && !cmd.Flags().Changed("keep-data") {
		return nil
	}
	given, err := o.dataPolicy()
	if err != nil {
		return err
	}
	if given != saved {
		return fmt.Errorf("%s differs from the saved plan %s, which was made with %s; drop the flag or run plan again with it",
			dataFlagName(given), path, dataFlagName(saved))
	}
	return nil
}

// dataCommand is what the refusal of a plan holding data tells the user to run again: apply,
// or for a saved plan, plan --out with the flag.
func (o *applyOptions) dataCommand() string {
	if o.PlanFile != "" {
		return "flareform plan --out " + o.PlanFile
	}
	return "flareform apply"
}
