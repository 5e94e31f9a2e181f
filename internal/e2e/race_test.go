//go:build race

package e2e

// raceEnabled reports whether the tests run under the race detector;
// TestMain then builds fieldd with it too.
const raceEnabled = true
