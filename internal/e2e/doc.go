// Package e2e holds the end-to-end tests of fieldd: they build the fieldd
// binary, start real daemons in temporary directories, and run writer and
// watcher processes that link pkg/client. The package has no non-test
// code.
package e2e
