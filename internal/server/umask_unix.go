//go:build unix

package server

import "syscall"

// restrictUmask makes files and folders the process creates private to its
// user (0600 and 0700), whatever the umask it was started with.
func restrictUmask() { syscall.Umask(0o077) }
