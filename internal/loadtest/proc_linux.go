package loadtest

import "syscall"

// Children die with the harness even if it is killed: the kernel sends them SIGKILL.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
