package testenv

import "syscall"

// sysProcAttr puts the server in its own process group (so a terminal ^C goes
// to the test binary, not straight to the server) and asks the kernel to
// SIGKILL it when the OS thread that started it dies (see spawn).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
