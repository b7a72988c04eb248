// Package testutil holds small helpers shared by the tests of kioku's
// packages. It is imported only from _test.go files.
package testutil

// Recover calls f and returns the value it panicked with, or nil if it
// returned normally.
func Recover(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}
