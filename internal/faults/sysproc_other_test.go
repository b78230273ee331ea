//go:build !linux

package faults_test

import "syscall"

// childAttr: without PR_SET_PDEATHSIG the child is killed by t.Cleanup only.
func childAttr() *syscall.SysProcAttr { return nil }
