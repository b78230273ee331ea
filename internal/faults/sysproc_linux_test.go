package faults_test

import "syscall"

// childAttr asks the kernel to SIGKILL the child if the test binary dies first, so a
// failed or killed test never leaves a server behind.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
