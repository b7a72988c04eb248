//go:build !purego

package lm

// portableKernels: without the purego tag the products may run on the
// assembly kernels, which round a row differently with the row count of
// its product (see docs/lm.md, "Batch invariance"); the tests compare
// batched and one-at-a-time numbers within a tolerance then.
const portableKernels = false
