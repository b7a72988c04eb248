//go:build purego

package lm

// portableKernels: built with -tags purego, the matrix products run on
// internal/kernel's portable Go code, whose result for a row does not
// depend on the other rows of the product for depths up to its block
// depth (256): every micro-tile sums in one order, and one-row products
// sum as the tiles do. Batched and one-at-a-time scores are then
// bit-identical, and the tests say so.
const portableKernels = true
