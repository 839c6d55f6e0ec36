//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package train

import "os"

// lockTemp does nothing where flock(2) is not available.
func lockTemp(*os.File) {}

// tempInUse cannot tell where flock(2) is not available.
func tempInUse(string) (inUse, known bool) { return false, false }
