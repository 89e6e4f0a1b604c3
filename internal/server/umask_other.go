//go:build !unix

package server

// restrictUmask has no equivalent outside Unix; file permissions there
// come from the folder's access control list.
func restrictUmask() {}
