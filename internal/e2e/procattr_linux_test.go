package e2e

import "syscall"

// childProcAttr makes the kernel kill a child process with SIGKILL when
// the test process dies, so a crashed test leaves no daemon behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
