//go:build !linux

package stripetest

import "syscall"

// mockSysProcAttr returns nil: only Linux can tie the child's lifetime to
// the test process, elsewhere call StopMock from TestMain.
func mockSysProcAttr() *syscall.SysProcAttr {
	return nil
}
