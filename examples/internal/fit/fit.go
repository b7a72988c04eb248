// Package fit holds the training plumbing the example programs share: an
// Adam optimizer with gradient clipping, one update step, and the shuffled
// mini-batches of an epoch.
package fit

import (
	"fmt"
	"iter"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// Adam returns an Adam optimizer over params with learning rate lr whose
// gradients are clipped to a global norm of at most clip before each
// update. It returns an error for a learning rate or threshold that is not
// positive.
func Adam(params iter.Seq2[string, *autograd.Variable], lr, clip float64) (*optim.Optimizer, error) {
	opt, err := optim.NewAdam(params, optim.AdamConfig{LR: lr})
	if err != nil {
		return nil, err
	}
	c, err := optim.NewGradientClipping(clip)
	if err != nil {
		return nil, err
	}
	opt.AddHook(c)
	return opt, nil
}

// Step makes one update from loss: it clears the gradients opt holds,
// back-propagates loss and updates the parameters, returning the error of
// opt.Update.
func Step(opt *optim.Optimizer, loss *autograd.Variable) error {
	opt.ClearGrads()
	loss.Backward()
	return opt.Update()
}

// Batches returns the mini-batches of one pass over the items 0, …, n−1:
// a random permutation drawn from rng, cut into runs of size items (the
// last one shorter when size does not divide n). It panics if size is not
// positive.
func Batches(rng *tensor.RNG, n, size int) [][]int {
	if size < 1 {
		panic(fmt.Sprintf("fit: batch size %d", size))
	}
	perm := rng.Perm(n)
	batches := make([][]int, 0, (n+size-1)/size)
	for b := 0; b < n; b += size {
		batches = append(batches, perm[b:min(b+size, n)])
	}
	return batches
}
