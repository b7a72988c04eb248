package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/serve"
)

func init() {
	commands["serve"] = command{summary: "serve trained models over HTTP (score, generate, translate; metrics, health)", run: runServe}
}

const serveHelp = `Usage: kioku serve -model DIR [-model NAME=DIR …] [flags]

Serves trained models as JSON over HTTP: language models answer
/v1/models/NAME/score and /generate, seq2seq models /v1/models/NAME/translate.
The kind of each model is read from its checkpoint. A -model without a
name is served as "default". /healthz, /readyz and /metrics (Prometheus)
are there too; docs/serve.md has the API with curl examples.

Concurrent requests run together: scoring and translation wait up to
-max-delay to join a batch of at most -max-batch texts, and generations
join and leave a running batch step by step. Results are those each
request would get alone.

SIGTERM or SIGINT stops accepting, lets the requests in flight finish
(for up to -shutdown-timeout) and exits 0.

Flags:
`

// modelFlags collects repeated -model NAME=DIR flags.
type modelFlags []string

func (m *modelFlags) String() string     { return strings.Join(*m, ",") }
func (m *modelFlags) Set(v string) error { *m = append(*m, v); return nil }

func runServe(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kioku serve", flag.ContinueOnError)
	var models modelFlags
	fs.Var(&models, "model", "a checkpoint `dir`ectory to serve, or NAME=DIR (repeat for several models)")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	var o serve.Options
	fs.IntVar(&o.MaxBatch, "max-batch", 32, "most texts or generations run together in one batch")
	fs.DurationVar(&o.MaxDelay, "max-delay", 2*time.Millisecond, "how long a request waits for others to join its batch")
	noBatch := fs.Bool("no-batching", false, "run every request on its own (for comparison)")
	fs.IntVar(&o.MaxQueue, "max-queue", 256, "most requests per model waiting or running; more get 429")
	fs.Int64Var(&o.MaxBodyBytes, "max-body", 1<<20, "largest request body in bytes")
	fs.IntVar(&o.MaxTokens, "max-tokens", 4096, "most tokens per request (texts scored; prime + generated; sources + outputs)")
	fs.IntVar(&o.MaxTexts, "max-texts", 64, "most texts (or sources) per request")
	fs.DurationVar(&o.Timeout, "timeout", 60*time.Second, "longest a request may take, queueing included (then 504)")
	grace := fs.Duration("shutdown-timeout", 30*time.Second, "how long SIGTERM waits for the requests in flight")
	bf16 := fs.Bool("bf16", false, "language models compute their products from bfloat16 roundings (float32 accumulation; needs AVX512_BF16): faster, slightly different numbers")
	setUsage(fs, serveHelp)
	if err := parseFlagsNoArgs(fs, args, stderr, "kioku serve"); err != nil {
		return err
	}
	o.NoBatching = *noBatch
	if len(models) == 0 {
		fmt.Fprintln(stderr, "kioku serve: give at least one -model DIR (run \"kioku serve -help\")")
		return errUsage
	}
	var loaded []*serve.Model
	for _, spec := range models {
		name, dir, ok := strings.Cut(spec, "=")
		if !ok {
			name, dir = "default", spec
		}
		m, err := serve.Load(name, dir)
		if err != nil {
			return err
		}
		if *bf16 && m.Kind() == lm.Kind {
			if err := m.SetPrecision(fn.BFloat16); err != nil {
				return fmt.Errorf("-bf16: %w", err)
			}
		}
		loaded = append(loaded, m)
	}
	srv, err := serve.New(loaded, o)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	for _, m := range loaded {
		fmt.Fprintf(stdout, "serving %s (%s) as %s\n", m.Dir, m.Kind(), m.Name)
	}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	if f, ok := stdout.(*os.File); ok {
		f.Sync()
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case s := <-sigs:
		fmt.Fprintf(stderr, "%s: draining (up to %s)\n", signalName(s), *grace)
	}
	srv.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w (requests still running were cut off)", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(stderr, "stopped")
	return nil
}
