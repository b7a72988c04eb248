package serve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/seq2seq"
)

// Server serves models over HTTP; it is an http.Handler. Create it with
// New, serve it with net/http, and on shutdown call Drain, then
// http.Server.Shutdown (which waits for the requests in flight), then
// Close.
type Server struct {
	opts    Options
	models  map[string]*served
	names   []string
	reg     *prometheus.Registry
	met     *metrics
	mux     *http.ServeMux
	drain   atomic.Bool
	stop    chan struct{}
	loops   sync.WaitGroup
	seeds   atomic.Uint64 // the seeds of requests that give none
	closeMu sync.Once
}

// served is one model with its batchers and counters.
type served struct {
	*Model
	// lm is the language model's packed inference view (lm.Model.Pack),
	// made once: no request packs its weights again.
	lm        *lm.Model
	queued    atomic.Int64             // requests admitted and unanswered
	coming    map[string]*atomic.Int64 // by endpoint, those admitted and not yet submitted
	score     *batcher[[]int, lm.Score]
	gen       *genLoop
	translate *batcher[translateItem, []seq2seq.Hypothesis]
}

// New returns a server of models (names must differ) with opts, its
// batching goroutines running until Close.
func New(models []*Model, opts Options) (*Server, error) {
	if len(models) == 0 {
		return nil, errors.New("serve: no models to serve")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, models: map[string]*served{}, reg: prometheus.NewRegistry(), stop: make(chan struct{})}
	s.seeds.Store(uint64(time.Now().UnixNano()))
	s.met = newMetrics(s.reg)
	for _, m := range models {
		if _, dup := s.models[m.Name]; dup {
			return nil, fmt.Errorf("serve: two models named %q", m.Name)
		}
		sv := &served{Model: m, coming: map[string]*atomic.Int64{}}
		for _, ep := range m.Info().Endpoints {
			sv.coming[ep] = new(atomic.Int64)
		}
		s.models[m.Name] = sv
		s.names = append(s.names, m.Name)
		s.met.queue.WithLabelValues(m.Name).Set(0)
		if m.lm != nil {
			sv.lm = m.lm.Pack()
		}
		if opts.NoBatching {
			continue
		}
		if sv.lm != nil {
			sv.score = newBatcher(opts.MaxBatch, opts.MaxDelay, func(ctx context.Context, texts [][]int) ([]lm.Score, error) {
				return sv.lm.Score(ctx, texts, lm.ScoreOptions{TokenLogProbs: true})
			})
			sv.score.observe = observer(s.met.batch.WithLabelValues(m.Name, "score"))
			sv.score.coming = sv.coming["score"].Load
			sv.gen = newGenLoop(sv.lm, opts.MaxBatch)
			sv.gen.observe = observer(s.met.batch.WithLabelValues(m.Name, "generate"))
			s.start(func() { sv.score.loop(s.stop) }, func() { sv.gen.loop(s.stop) })
		} else {
			sv.translate = newBatcher(opts.MaxBatch, opts.MaxDelay, func(ctx context.Context, items []translateItem) ([][]seq2seq.Hypothesis, error) {
				return translateBatch(ctx, m.s2s.Model, items)
			})
			sv.translate.observe = observer(s.met.batch.WithLabelValues(m.Name, "translate"))
			sv.translate.coming = sv.coming["translate"].Load
			s.start(func() { sv.translate.loop(s.stop) })
		}
	}
	slices.Sort(s.names)
	s.routes()
	return s, nil
}

// start runs each function on a goroutine of its own until Close.
func (s *Server) start(fs ...func()) {
	for _, f := range fs {
		s.loops.Add(1)
		go func() {
			defer s.loops.Done()
			f()
		}()
	}
}

// Registry returns the registry of the server's metrics, for a program
// that wants to add its own or serve them elsewhere.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// Drain makes the server refuse new inference requests (503) and report
// not ready, so that a load balancer stops sending it traffic; requests
// already admitted run to the end.
func (s *Server) Drain() { s.drain.Store(true) }

// Close stops the batching goroutines; generations still running end with
// an error. Call it after the HTTP server has shut down.
func (s *Server) Close() {
	s.closeMu.Do(func() {
		close(s.stop)
		s.loops.Wait()
	})
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if s.drain.Load() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "models": s.names})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		var list ModelList
		for _, n := range s.names {
			list.Models = append(list.Models, s.models[n].Info())
		}
		writeJSON(w, http.StatusOK, list)
	})
	mux.HandleFunc("GET /v1/models/{name}", func(w http.ResponseWriter, r *http.Request) {
		m, err := s.model(r.PathValue("name"), "")
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, m.Info())
	})
	for name, h := range map[string]handlerFunc{"score": s.score, "generate": s.generate, "translate": s.translateHandler} {
		mux.Handle("POST /v1/models/{name}/"+name, s.inference(name, h))
		mux.HandleFunc("/v1/models/{name}/"+name, methodNotAllowed)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, errorf(http.StatusNotFound, "not_found", "no endpoint %s %s (see GET /v1/models)", r.Method, r.URL.Path))
	})
	s.mux = mux
}

// methodNotAllowed answers a request to an inference endpoint that is
// not a POST.
func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "POST")
	writeError(w, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s %s: the endpoint takes POST", r.Method, r.URL.Path))
}

// model returns the served model called name, checking that it answers
// endpoint (any for "").
func (s *Server) model(name, endpoint string) (*served, error) {
	m, ok := s.models[name]
	if !ok {
		return nil, errorf(http.StatusNotFound, "unknown_model", "no model %q (serving %v)", name, s.names)
	}
	if endpoint != "" && !slices.Contains(m.Info().Endpoints, endpoint) {
		return nil, errorf(http.StatusNotFound, "wrong_kind", "model %q is a %s model, which has no %s endpoint (it has %v)", name, m.Kind(), endpoint, m.Info().Endpoints)
	}
	return m, nil
}

// handlerFunc is an inference endpoint: it answers the request for model
// m (w written on success) and returns the tokens it processed, or an
// error to report.
type handlerFunc func(ctx context.Context, m *served, w http.ResponseWriter, r *http.Request) (tokens int, err error)

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flushes).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// inference wraps an endpoint with what every inference request gets:
// the model looked up, admission (draining, the queue bound), the
// timeout, a recovered panic, errors as JSON, and the metrics.
func (s *Server) inference(endpoint string, h handlerFunc) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		began := time.Now()
		w := &statusWriter{ResponseWriter: rw}
		name := r.PathValue("name")
		m, err := s.model(name, endpoint)
		if err != nil {
			writeError(w, err)
			return // unknown names get no metric series of their own
		}
		tokens := 0
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("internal error: %v", p)
				if w.status == 0 {
					writeError(w, errorf(http.StatusInternalServerError, "internal", "internal error: %v", p))
				}
			}
			code := w.status
			if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
				code = statusClientClosed
			}
			if err != nil {
				s.met.errors.WithLabelValues(name, endpoint, errorCode(err)).Inc()
			}
			s.met.requests.WithLabelValues(name, endpoint, strconv.Itoa(code)).Inc()
			s.met.latency.WithLabelValues(name, endpoint).Observe(time.Since(began).Seconds())
			s.met.tokens.WithLabelValues(name, endpoint).Add(float64(tokens))
		}()
		if s.drain.Load() {
			err = errorf(http.StatusServiceUnavailable, "draining", "the server is shutting down")
			writeError(w, err)
			return
		}
		if q := m.queued.Add(1); q > int64(s.opts.MaxQueue) {
			m.queued.Add(-1)
			err = &apiError{status: http.StatusTooManyRequests, code: "queue_full", message: fmt.Sprintf("model %q has %d requests queued; retry later", name, s.opts.MaxQueue), retryAfter: 1}
			writeError(w, err)
			return
		}
		s.met.queue.WithLabelValues(name).Inc()
		ctx, p := withPending(r.Context(), m.coming[endpoint])
		defer func() {
			p.arrive()
			m.queued.Add(-1)
			s.met.queue.WithLabelValues(name).Dec()
		}()
		ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
		defer cancel()
		tokens, err = h(ctx, m, w, r)
		if err != nil {
			err = contextError(err)
			if w.status == 0 && !(errors.Is(err, context.Canceled) && r.Context().Err() != nil) {
				writeError(w, err)
			}
		}
	})
}

// contextError turns a deadline past Options.Timeout into a 504; other
// errors, a client's cancellation among them (nothing is sent then), stay
// as they are.
func contextError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errorf(http.StatusGatewayTimeout, "timeout", "the request took longer than the server's timeout")
	}
	return err
}

// errorCode is the error label of a failed request.
func errorCode(err error) string {
	var e *apiError
	switch {
	case errors.As(err, &e):
		return e.code
	case errors.Is(err, context.Canceled):
		return "client_closed"
	}
	return "internal"
}

// observer returns a function recording counts in o.
func observer(o prometheus.Observer) func(int) { return func(n int) { o.Observe(float64(n)) } }

// finite reports whether x is a finite number.
func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
