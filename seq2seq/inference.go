package seq2seq

import (
	"github.com/kioku-ml/kioku/nn"
)

// Inference.
//
// Start and Step run on an inference view of the model: every layer's
// inference view (package nn), sharing the weight tensors, recording
// nothing, in evaluation mode, with no dropout generator. Start makes one
// per call and the State carries it, so decoding never writes to the
// model or to anything another decoding shares.
//
// Batched decoding gives each source exactly — bit for bit — what
// decoding it alone gives, with the batched kernels: the encoder runs all
// sources as one packed batch and every decoder step runs all rows as
// one, and kioku's inference kernels are batch-invariant (a row's result
// does not depend on how many rows are computed with it, nor on what they
// hold; see "Batch invariance" in docs/architecture.md). The attention
// kernels (ops.go) work row by row. Teacher-forced training (Loss) runs
// the same layers with a recorded graph; its results agree with Step's
// to rounding (the gradient products keep their depth split).

// inference returns a view of the model for inference (see above).
func (m *Model) inference() *Model {
	v := &Model{cfg: m.cfg, origin: m,
		srcEmbed: m.srcEmbed.Inference(), encoder: m.encoder.Inference(),
		tgtEmbed: m.tgtEmbed.Inference(), generator: m.generator.Inference(),
		attnIn: linearView(m.attnIn), attnQuery: linearView(m.attnQuery), attnKey: linearView(m.attnKey), attnOut: linearView(m.attnOut),
	}
	for _, b := range m.bridgeH {
		v.bridgeH = append(v.bridgeH, b.Inference())
	}
	for _, b := range m.bridgeC {
		v.bridgeC = append(v.bridgeC, b.Inference())
	}
	for _, d := range m.decoder {
		v.decoder = append(v.decoder, d.Inference())
	}
	if m.attnV != nil {
		v.attnV = m.attnV.Detach()
	}
	return v
}

// linearView is l's inference view, nil for nil.
func linearView(l *nn.Linear) *nn.Linear {
	if l == nil {
		return nil
	}
	return l.Inference()
}
