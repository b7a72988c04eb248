package train

import "github.com/kioku-ml/kioku/seq"

// batcher serves the training chunks of one epoch.
type batcher struct {
	b      *seq.BPTT
	chunks int
}

func newBatcher(ids []int, batch, bptt int) (*batcher, error) {
	b, err := seq.NewBPTT(ids, batch, bptt)
	if err != nil {
		return nil, err
	}
	return &batcher{b: b, chunks: b.Chunks()}, nil
}

func (b *batcher) chunk(k int) (inputs, targets [][]int) { return b.b.Chunk(k) }
