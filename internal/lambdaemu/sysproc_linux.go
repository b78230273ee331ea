//go:build linux

package lambdaemu

import "syscall"

// sysProcAttr makes the kernel SIGKILL the bootstrap if the emulating
// process dies without calling Close, so no function processes are leaked.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
