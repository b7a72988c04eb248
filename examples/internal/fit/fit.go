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

// Epoch makes one pass over the items 0, …, n−1 in the mini-batches of
// Batches(rng, n, size), one update per batch on the mean loss that loss
// returns for the batch's items, and returns the mean training loss per
// item: the batches' losses weighted by their sizes. It stops at the
// first error of an update.
func Epoch(opt *optim.Optimizer, rng *tensor.RNG, n, size int, loss func(batch []int) *autograd.Variable) (float64, error) {
	var sum float64
	for _, idx := range Batches(rng, n, size) {
		l := loss(idx)
		if err := Step(opt, l); err != nil {
			return 0, err
		}
		sum += l.Data.Item() * float64(len(idx))
	}
	return sum / float64(n), nil
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
