package main

import (
	"fmt"
	"strconv"

	"github.com/flareform/flareform/localcf"
	"github.com/flareform/flareform/localcf/faults"
)

// Environment variables that switch on fault injection in a local Cloudflare flareform starts,
// for `local` (as flag defaults) and for any command run with --local.
const (
	envLocalFaults    = "FLAREFORM_LOCAL_FAULTS"
	envLocalFaultSeed = "FLAREFORM_LOCAL_FAULT_SEED"
)

// faultsFromEnv reads FLAREFORM_LOCAL_FAULTS and FLAREFORM_LOCAL_FAULT_SEED; no rules and
// seed 1 when they are unset.
func faultsFromEnv(getenv func(string) string) ([]faults.Rule, int64, error) {
	rules, err := faults.ParseRules(getenv(envLocalFaults))
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", envLocalFaults, err)
	}
	seed := int64(1)
	if s := getenv(envLocalFaultSeed); s != "" {
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, 0, fmt.Errorf("%s=%q: want an integer seed", envLocalFaultSeed, s)
		}
	}
	return rules, seed, nil
}

// envLocalQuirks lists the quirk switches (localcf.QuirkNames) a local Cloudflare that
// flareform starts runs with, comma-separated; unset = the strict reading of everything.
const envLocalQuirks = "FLAREFORM_LOCALCF_QUIRKS"

// quirksFromEnv reads FLAREFORM_LOCALCF_QUIRKS plus the names given on the command line.
func quirksFromEnv(getenv func(string) string, flagNames []string) (localcf.Quirks, error) {
	q, err := localcf.ParseQuirks(getenv(envLocalQuirks))
	if err != nil {
		return localcf.Quirks{}, fmt.Errorf("%s: %w", envLocalQuirks, err)
	}
	names := append(q.Names(), flagNames...)
	if q, err = localcf.QuirksFromNames(names); err != nil {
		return localcf.Quirks{}, fmt.Errorf("--quirk: %w", err)
	}
	return q, nil
}
