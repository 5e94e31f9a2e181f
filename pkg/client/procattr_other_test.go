//go:build !linux

package client_test

import "syscall"

// childProcAttr returns nil: only Linux has a parent-death signal.
func childProcAttr() *syscall.SysProcAttr { return nil }
