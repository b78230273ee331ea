//go:build !linux

package lambdaemu

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
