package deploy

import (
	"os"
	"syscall"
)

// killSelf is kill -9 of this process (the crash-safety tests).
func killSelf() {
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}
