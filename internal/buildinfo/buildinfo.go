// Package buildinfo reads what the Go toolchain recorded about the running binary's modules.
package buildinfo

import "runtime/debug"

// Dependency is the module path as linked into this binary (with its Replace, if any), nil when
// the binary carries no build information (test binaries) or does not link it.
func Dependency(path string) *debug.Module {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return nil
	}
	for _, dep := range info.Deps {
		if dep.Path == path {
			return dep
		}
	}
	return nil
}
