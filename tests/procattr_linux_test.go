package tests

import (
	"os/exec"
	"syscall"
)

// dieWithTest makes the kernel kill a host process when the test binary
// dies, so that a test that panics or times out leaves no `wisp up` behind.
func dieWithTest(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
