// Package serve is kioku's model server: an http.Handler that serves
// trained language models (scoring and generation) and seq2seq models
// (translation) as versioned JSON over HTTP, as Triton, TorchServe and TF
// Serving serve theirs.
//
// One Server serves any number of models by name. Requests that arrive
// together run together: scoring and translation requests wait in a
// queue for up to Options.MaxDelay and run as one packed batch of at most
// Options.MaxBatch texts (dynamic batching); generation requests join and
// leave a running lm.Batch step by step (continuous batching). Batched
// results equal unbatched ones — bit for bit, and with the same samples
// for the same seed — because kioku's kernels compute every row of a
// batch independently. Each model is shared by every request without
// locks: lm.Model and seq2seq.Model are safe for concurrent inference.
//
// The endpoints (docs/serve.md has curl examples for each):
//
//	GET  /healthz                       the process is up
//	GET  /readyz                        the models are loaded and the server is not draining
//	GET  /metrics                       Prometheus text format
//	GET  /v1/models                     the models served
//	GET  /v1/models/{name}              one model: kind, sizes, vocabulary
//	POST /v1/models/{name}/score        nats/token and perplexity per text (language models)
//	POST /v1/models/{name}/generate     sampled continuations, streamed or not (language models)
//	POST /v1/models/{name}/translate    greedy, sampled or beam decoding, n-best (seq2seq models)
//
// Every error is a JSON object {"error": {"code": …, "message": …}} with
// a 4xx or 5xx status: 400 for malformed JSON, unknown fields, invalid
// UTF-8, empty texts or out-of-range parameters, 404 for an unknown model
// or one of the wrong kind for the endpoint, 405, 413 for a body past
// Options.MaxBodyBytes or too many tokens, 415 for a body that is not
// JSON, 429 with Retry-After when the queue is full, 499 when the client
// went away, 503 while draining and 504 past Options.Timeout. No request
// can crash the server: a fuzz test feeds the handlers arbitrary bodies.
package serve
