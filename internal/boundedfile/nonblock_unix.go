//go:build unix

package boundedfile

import (
	"os"
	"syscall"
)

// nonBlock makes opening a FIFO return at once instead of waiting for a
// writer.
const nonBlock = syscall.O_NONBLOCK

// clearNonBlock puts f back into blocking mode (irrelevant for regular
// files, but reads then behave as usual).
func clearNonBlock(f *os.File) error {
	raw, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = syscall.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	return serr
}
