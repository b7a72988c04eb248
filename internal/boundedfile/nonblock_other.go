//go:build !unix

package boundedfile

import "os"

// nonBlock is 0 where opening has no non-blocking flag; the Stat before
// the open refuses FIFOs there.
const nonBlock = 0

func clearNonBlock(*os.File) error { return nil }
