// Package modelio saves and loads kioku models: PyTorch state dicts in
// and out, and training checkpoints that resume exactly.
//
// # State dicts
//
// A model's parameters are named as PyTorch names them — nn.NamedParams
// gives "embed.weight", "rnn.weight_ih_l0", "rnn.bias_hh_l1_reverse",
// "out.bias" — so a state dict saved in Python with
//
//	safetensors.torch.save_file(model.state_dict(), "model.safetensors")
//
// loads into the kioku model of the same structure with LoadStateDictFile,
// and SaveStateDict writes a file that PyTorch loads with
// model.load_state_dict(safetensors.torch.load_file(...)). A prefix
// selects a sub-module's tensors ("rnn." loads nn.LSTM weights saved as
// part of a larger model into an NStepLSTM). Floating-point tensors are
// converted to the parameters' element type. Any mismatch gives one
// *StateDictError listing every missing, unexpected and mismatched tensor,
// and leaves the model unchanged. Layers kioku does not have (PyTorch's
// nn.LayerNorm) load into a ParamDict.
//
// Buffers (nn.NamedBuffers: batch normalisation's running statistics,
// under PyTorch's names running_mean, running_var and num_batches_tracked
// for nn.BatchNormalization) are part of the state dict, beside the
// parameters.
//
// The format itself is package modelio/safetensors.
//
// # Checkpoints
//
// Save writes a Checkpoint — the model's configuration, weights and
// buffers, the optimizer's state, RNG states, step and epoch counters, the vocabulary
// and metadata — to a directory, atomically: a crash at any moment leaves
// the previous checkpoint or the new one, never a mix. Open reads and
// verifies one (recovering from an interrupted Save), and its Restore, or
// Load in one call, puts it back into freshly built objects after checking
// that everything fits, so that training resumes bit for bit where it
// stopped. See docs/modelio.md for the directory layout and the protocol.
package modelio
