//go:build !unix

package journal

import "os"

// lockDir cannot lock on this platform: the journal is refused, and
// records go straight to the database (slower, equally safe).
func lockDir(string) (*os.File, error) { return nil, ErrLocked }
