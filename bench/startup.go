package main

import (
	"bufio"
	"cmp"
	"context"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// startupResults compare `flareform version` with a hello-world built the same way.
type startupResults struct {
	Flareform, Hello series
	// Init is the package initialisation `GODEBUG=inittrace=1 flareform version` reports:
	// all packages, and the module's own (github.com/flareform/...).
	InitAllMS, InitOwnMS float64
	// Slowest own packages at init, "pkg 0.44 ms", slowest first.
	InitOwnTop []string
	Static     bool // no ELF interpreter: no dynamic loader runs before main
	SizeMiB    float64
}

// measureStartup runs `flareform version` and hello runs times each, interleaved.
func (b *bench) measureStartup(ctx context.Context, hello string, runs int) (*startupResults, error) {
	res := &startupResults{Flareform: series{Label: "flareform version"}, Hello: series{Label: "hello world"}}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + b.work}
	ff := command{Path: b.flareform, Args: []string{"version"}, Dir: b.work, Env: env}
	hw := command{Path: hello, Dir: b.work, Env: env}
	for i := range runs {
		rotated(i, func() { res.Flareform.add(b.measureProcess(ctx, ff)) }, func() { res.Hello.add(b.measureProcess(ctx, hw)) })
	}
	trace := run(ctx, command{Path: b.flareform, Args: []string{"version"}, Dir: b.work,
		Env: append(env, "GODEBUG=inittrace=1")})
	if trace.Err != nil {
		return nil, fmt.Errorf("flareform version with inittrace: %w", trace.Err)
	}
	res.InitAllMS, res.InitOwnMS, res.InitOwnTop = initTimes(trace.Output, "github.com/flareform/")
	var err error
	if res.Static, err = isStatic(b.flareform); err != nil {
		return nil, err
	}
	if fi, err := os.Stat(b.flareform); err == nil {
		res.SizeMiB = float64(fi.Size()) / (1 << 20)
	}
	return res, nil
}

// measureProcess is one run of a command that talks to no API.
func (b *bench) measureProcess(ctx context.Context, c command) sample {
	o := run(ctx, c)
	s := sample{Wall: o.Wall, RSSKiB: o.RSSKiB, Failed: o.Err != nil}
	if o.Err != nil {
		fmt.Fprintf(b.log, "bench: run FAILED (left out of the medians): %v\n", o.Err)
	}
	return s
}

// initTimes sums the clock times of inittrace lines ("init pkg @0.5 ms, 0.44 ms clock, ...")
// over all packages and over those under ownPrefix, and lists the own ones, slowest first.
func initTimes(trace, ownPrefix string) (all, own float64, top []string) {
	type pkgTime struct {
		pkg string
		ms  float64
	}
	var owns []pkgTime
	sc := bufio.NewScanner(strings.NewReader(trace))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 7 || f[0] != "init" || f[6] != "clock," {
			continue
		}
		ms, err := strconv.ParseFloat(f[4], 64)
		if err != nil {
			continue
		}
		all += ms
		if strings.HasPrefix(f[1], ownPrefix) {
			own += ms
			owns = append(owns, pkgTime{f[1], ms})
		}
	}
	slices.SortStableFunc(owns, func(a, b pkgTime) int { return cmp.Compare(b.ms, a.ms) })
	for _, p := range owns[:min(len(owns), 4)] {
		top = append(top, fmt.Sprintf("%s %.2f ms", strings.TrimPrefix(p.pkg, ownPrefix), p.ms))
	}
	return all, own, top
}

// isStatic reports whether the executable has no ELF interpreter (the dynamic loader).
func isStatic(path string) (bool, error) {
	f, err := elf.Open(path)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", filepath.Base(path), err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false, nil
		}
	}
	return true, nil
}
