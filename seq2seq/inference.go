package seq2seq

import "github.com/kioku-ml/kioku/nn"

// inference returns a view of the model for inference: every layer's
// inference view (package nn), sharing the weights, recording nothing,
// in evaluation mode, with no dropout generator. Start makes one per
// call and the State carries it, so that decoding never writes to the
// model or to anything another decoding shares.
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
