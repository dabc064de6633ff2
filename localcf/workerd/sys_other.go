//go:build !linux

package workerd

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

func isolate(cmd *exec.Cmd) {}

func signalGroup(pid int, sig syscall.Signal) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Signal(sig)
}

// memoryFile is Linux-only: the workerd npm package flareform pins ships a
// linux-x64 binary, and the config must stay off disk.
func memoryFile(data []byte) (*os.File, error) {
	return nil, errors.New("running workerd locally needs Linux (memfd for the in-memory config)")
}
