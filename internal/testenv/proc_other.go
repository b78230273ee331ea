//go:build !linux

package testenv

import "syscall"

// sysProcAttr: without PR_SET_PDEATHSIG, private servers are only stopped by
// Main, Server.Stop or t.Cleanup.
func sysProcAttr() *syscall.SysProcAttr { return nil }
