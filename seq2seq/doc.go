// Package seq2seq holds sequence-to-sequence models: an encoder–decoder
// (Sutskever, Vinyals & Le 2014, "Sequence to Sequence Learning with Neural
// Networks") with an optional bidirectional, multi-layer encoder, attention
// — Bahdanau's additive score (Bahdanau, Cho & Bengio 2015, "Neural Machine
// Translation by Jointly Learning to Align and Translate") and Luong's dot
// and general scores with input feeding (Luong, Pham & Manning 2015,
// "Effective Approaches to Attention-based Neural Machine Translation") —
// and decoding by greedy search, sampling and beam search.
//
// # The model
//
// The encoder embeds the source tokens and runs an nn.NStepLSTM or
// nn.NStepGRU over the batch of variable-length sources, packed, so no
// padding enters the recurrence. Its outputs h̄_s, zero-padded into a
// (B, S, D) memory, are what attention reads; its final states start the
// decoder through a Bridge: a learned tanh layer over the forward and
// backward states concatenated (the default), their sum, or zeros.
//
// The decoder is a stack of LSTM or GRU links stepped one token at a time.
// With attention it follows Luong et al.: at step t the top layer's state
// h_t scores every source position,
//
//	dot:       score(h_t, h̄_s) = h_tᵀ h̄_s
//	general:   score(h_t, h̄_s) = h_tᵀ W_a h̄_s
//	additive:  score(h_t, h̄_s) = vᵀ tanh(W h_t + U h̄_s + b)
//
// the scores of real (not padding) positions go through a softmax — padded
// positions get exactly zero weight — giving weights a_t, the context is
// c_t = Σ_s a_t(s) h̄_s, and the attentional vector h̃_t = tanh(W_c [c_t; h_t])
// feeds the generator softmax(W_o h̃_t). With input feeding, h̃_{t−1} is
// concatenated to the embedding of the previous token. Bahdanau et al.
// compute the score from the previous state h_{t−1} and feed c_t into the
// recurrence; here the additive score is used in Luong's decoder, as
// OpenNMT's "mlp" attention does, so the three scores are interchangeable.
// Without attention the generator reads h_t directly, as in Sutskever et al.
//
// Training is teacher forcing: Model.Loss feeds BOS and the reference
// tokens and scores each next token and the final EOS. Without input
// feeding the decoder then runs as one fused sequence kernel per layer and
// attention is computed for all steps at once.
//
// # Decoding
//
// Greedy, Sample and BeamSearch work on any Stepper — a model that scores
// the next token of a batch of rows and can reorder rows — so they can be
// tested on hand-built models. Every algorithm runs all the sentences of a
// batch together; beam search keeps all beams of all sentences in one
// batch of rows, which share the encoder's memory, and drops sentences as
// they finish. They take a context, checked once per step. Model.Decode
// wraps them with error checking, and Model.Stream yields one source's
// tokens as they are produced.
//
// A batch decodes each source exactly as decoding it alone would, bit for
// bit: Start encodes every source on its own and Step computes each row
// independently of the others (see Model.Step); with DecodeOptions.RNGs
// this holds for sampling too.
//
// # Concurrency
//
// A Model is safe for concurrent inference — Decode, Stream, Start, Step,
// Gather and the searches from any number of goroutines, without locks —
// and needs exclusive use for training and for restoring its weights. A
// server loads a model once (Load), shares it between its handlers and
// decodes with each request's context; see docs/seq2seq.md, "Serving from
// many goroutines".
//
// # Attention kernels
//
// The batched attention score, masked softmax and context are autograd
// functions of this package with hand-written backward passes, checked
// against finite differences like every function in kioku.
package seq2seq
