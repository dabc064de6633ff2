package workerd

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"
)

// isolate puts workerd in its own process group (so Close can signal
// everything it started) and asks the kernel to kill it if flareform dies,
// so no workerd outlives its owner. (Pdeathsig follows the forking OS
// thread; Go only retires threads of goroutines that exit while locked with
// runtime.LockOSThread, which flareform never does.)
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to the whole process group led by pid.
func signalGroup(pid int, sig syscall.Signal) error {
	return syscall.Kill(-pid, sig)
}

// memfdCreate syscall numbers; the syscall package lacks the amd64 one.
var memfdSyscall = map[string]uintptr{"amd64": 319, "arm64": 279}

// memoryFile returns a readable file holding data that lives only in memory
// (memfd), for handing the config, which holds secret values, to workerd as
// its stdin: workerd accepts /dev/stdin as a config only when it is a file.
func memoryFile(data []byte) (*os.File, error) {
	nr, ok := memfdSyscall[runtime.GOARCH]
	if !ok {
		return nil, fmt.Errorf("memfd_create: unsupported architecture %s", runtime.GOARCH)
	}
	name := []byte("workerd-config\x00")
	const mfdCloexec = 0x1
	fd, _, errno := syscall.Syscall(nr, uintptr(unsafe.Pointer(&name[0])), mfdCloexec, 0)
	if errno != 0 {
		return nil, fmt.Errorf("memfd_create: %w", errno)
	}
	f := os.NewFile(fd, "workerd-config")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("write config to memfd: %w", err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("rewind config memfd: %w", err)
	}
	return f, nil
}
