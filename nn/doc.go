// Package nn holds kioku's layers — links, in Chainer's word — and the
// small module system that names their parameters.
//
// A layer owns its parameters (autograd variables) and has a Forward
// method built from the differentiable functions of package fn. Every
// layer is a Module: Params lists its parameters in a fixed order, each
// named in Variable.Name as PyTorch names it ("weight", "bias",
// "weight_ih_l0", …). Models made of several layers implement Parent so
// that NamedParams gives dotted names ("encoder.weight_ih_l0"), exactly
// the keys of the same model's PyTorch state_dict. State that is saved
// but not trained (batch normalisation's running statistics) is a module's
// buffers: Buffered, NamedBuffers, SubBuffers, SetBuffer. There is no
// reflection: a model lists its sub-modules itself.
//
// The recurrent layers — the NStep stacks and the single-layer links —
// share one state type, State, and two small interfaces: Recurrent (whole
// sequences, as a list or packed) and Stepper (one time step).
// NewRecurrent and NewRecurrentCell build them from an fn.Cell, so that a
// model holds one field and never branches on the cell kind.
// PackSequences, PackPadded and their inverses move batches between the
// list, padded and packed layouts.
//
// Every layer has an Inference method returning a view for inference: a
// copy whose parameters share the layer's weight tensors but require no
// gradient, fixed in evaluation mode. Views record nothing and write
// nothing shared, so one layer serves any number of goroutines; training,
// SetMode, SetPrecision and the stateful Advance need exclusive use (see
// inference.go).
//
// Constructors take a configuration struct and an explicit *tensor.RNG for
// the initialisation, and return an error for an invalid configuration
// (sizes and options usually come from flags or files). The default
// initialisations are PyTorch's; package nn/initializer has the others.
// Parameters are float32 unless the configuration asks for float64.
package nn
