package serve

import (
	"fmt"
	"time"
)

// Options are a Server's limits and batching. The zero value of a field
// means its default, given with it.
type Options struct {
	// MaxBatch is the most texts (scoring, translation) or generations
	// run together in one batch. Default 32.
	MaxBatch int
	// MaxDelay is how long the first request of a batch waits for others
	// to join it. Default 2ms. Batching off (NoBatching) runs every
	// request on its own.
	MaxDelay time.Duration
	// NoBatching runs each request alone, as it comes: for comparison,
	// and for latency-bound single clients.
	NoBatching bool
	// MaxQueue is the most requests a model holds, waiting or running;
	// one more gets 429 Too Many Requests with Retry-After. Default 256.
	MaxQueue int
	// MaxBodyBytes bounds a request body. Default 1 MiB.
	MaxBodyBytes int64
	// MaxTokens bounds the tokens of one request: the texts scored, the
	// prime plus max_tokens generated, the sources translated. Default
	// 4096.
	MaxTokens int
	// MaxTexts bounds the texts of one scoring or translation request.
	// Default 64.
	MaxTexts int
	// Timeout bounds the time a request may take, queueing included;
	// past it the request fails with 504. Default 60s.
	Timeout time.Duration
}

// withDefaults returns o with every zero field at its default, or an
// error for a negative one.
func (o Options) withDefaults() (Options, error) {
	if o.MaxBatch < 0 || o.MaxDelay < 0 || o.MaxQueue < 0 || o.MaxBodyBytes < 0 || o.MaxTokens < 0 || o.MaxTexts < 0 || o.Timeout < 0 {
		return o, fmt.Errorf("serve: negative limit in %+v", o)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxBatch, 32)
	def(&o.MaxQueue, 256)
	def(&o.MaxTokens, 4096)
	def(&o.MaxTexts, 64)
	if o.MaxDelay == 0 {
		o.MaxDelay = 2 * time.Millisecond
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = 1 << 20
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	return o, nil
}
