//go:build !race

package lm

// raceEnabled: the race detector changes allocation counts.
const raceEnabled = false
