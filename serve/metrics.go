package serve

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors, on a registry of its
// own (no global state): two servers in one process do not collide.
type metrics struct {
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	batch    *prometheus.HistogramVec
	queue    *prometheus.GaugeVec
	tokens   *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kioku_requests_total", Help: "Requests answered, by model, endpoint and HTTP status.",
		}, []string{"model", "endpoint", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kioku_request_errors_total", Help: "Requests that failed, by model, endpoint and error code (as in the JSON error body).",
		}, []string{"model", "endpoint", "error"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kioku_request_duration_seconds", Help: "Time from receiving a request to its last byte, queueing included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 18), // 0.5 ms … 65 s
		}, []string{"model", "endpoint"}),
		batch: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kioku_batch_size", Help: "Texts per scoring or translation batch, and generations per generation step.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 … 512
		}, []string{"model", "endpoint"}),
		queue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "kioku_queue_length", Help: "Requests admitted for a model and not yet answered (waiting or running).",
		}, []string{"model"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kioku_tokens_total", Help: "Tokens processed: scored, generated, or read and written by translation. rate() of it is tokens/s.",
		}, []string{"model", "endpoint"}),
	}
	reg.MustRegister(m.requests, m.errors, m.latency, m.batch, m.queue, m.tokens,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
