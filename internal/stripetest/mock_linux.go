package stripetest

import "syscall"

// mockSysProcAttr makes the kernel kill stripe-mock when the test process
// dies, so no server outlives a crashed or interrupted test run.
func mockSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
