// Command servebench measures kioku serve: it makes a model the size of
// the ptb-small configuration, drives a running server with a fixed
// concurrency, and times the same requests as bare library calls.
//
//	servebench make -out DIR                      # a ptb-small-sized word model (random weights)
//	servebench load -url URL -endpoint score -c 1,8,64 -time 10s
//	servebench bare -model DIR -endpoint score -n 300
//
// load prints, per concurrency, the requests/s and the p50 and p99
// latency; bare prints the p50 and p99 of the library call itself
// (lm.Model.Score or Stream), which is what a server at concurrency 1
// adds its overhead to. bench/serve_bench.sh runs the whole comparison.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/modelio"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/tensor"
)

// The workload: ptb-small's sizes, a sentence of 30 words to score, a
// prime of 5 words continued by 20.
const (
	vocabSize = 10000
	scoreLen  = 30
	primeLen  = 5
	genLen    = 20
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: servebench make|load|bare [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "make":
		err = makeModel(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	case "bare":
		err = bare(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "servebench:", err)
		os.Exit(1)
	}
}

func words() []string {
	w := make([]string, vocabSize-2)
	for i := range w {
		w[i] = "w" + strconv.Itoa(i)
	}
	return w
}

func makeModel(args []string) error {
	fs := flag.NewFlagSet("make", flag.ExitOnError)
	out := fs.String("out", "", "checkpoint directory to write")
	fs.Parse(args)
	if *out == "" {
		return errors.New("make needs -out")
	}
	vocab, err := seq.NewVocab(words(), 1, 0)
	if err != nil {
		return err
	}
	cfg := lm.Config{Cell: "lstm", Tokenizer: "word", Vocab: vocab.Len(), Emb: 200, Hidden: 200, Layers: 2}
	m, err := lm.New(cfg, tensor.NewRNG(1))
	if err != nil {
		return err
	}
	return modelio.Save(*out, &modelio.Checkpoint{Kind: lm.Kind, Config: map[string]any{"model": cfg}, Model: m, Vocab: vocab.Tokens()})
}

// text returns a sentence of n vocabulary words, different for each i.
func text(i, n int) string {
	var b strings.Builder
	for k := range n {
		if k > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "w%d", (i*7919+k*104729)%(vocabSize-2))
	}
	return b.String()
}

func body(endpoint string, i int) string {
	if endpoint == "score" {
		return fmt.Sprintf(`{"texts":[%q]}`, text(i, scoreLen))
	}
	return fmt.Sprintf(`{"prime":%q,"max_tokens":%d,"seed":%d}`, text(i, primeLen), genLen, i)
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	url := fs.String("url", "http://127.0.0.1:8080", "server URL")
	model := fs.String("model", "default", "model name")
	endpoint := fs.String("endpoint", "score", "score or generate")
	cs := fs.String("c", "1,8,64", "concurrencies")
	dur := fs.Duration("time", 10*time.Second, "time per concurrency")
	label := fs.String("label", "", "label printed with each row")
	fs.Parse(args)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	target := fmt.Sprintf("%s/v1/models/%s/%s", *url, *model, *endpoint)
	for _, f := range strings.Split(*cs, ",") {
		c, err := strconv.Atoi(f)
		if err != nil || c < 1 {
			return fmt.Errorf("bad concurrency %q", f)
		}
		// Warm up, then measure.
		if _, err := run(client, target, *endpoint, c, time.Second); err != nil {
			return err
		}
		lat, err := run(client, target, *endpoint, c, *dur)
		if err != nil {
			return err
		}
		p50, p99 := percentiles(lat)
		fmt.Printf("%s\t%s\tc=%d\t%.1f req/s\tp50 %.2f ms\tp99 %.2f ms\t(%d requests)\n", *label, *endpoint, c, float64(len(lat))/dur.Seconds(), p50, p99, len(lat))
	}
	return nil
}

// run sends requests from c clients for d and returns their latencies.
func run(client *http.Client, target, endpoint string, c int, d time.Duration) ([]time.Duration, error) {
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for g := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; time.Now().Before(deadline); i += c {
				t0 := time.Now()
				resp, err := client.Post(target, "application/json", bytes.NewReader([]byte(body(endpoint, i))))
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("%s: status %d", target, resp.StatusCode)
					}
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				lat = append(lat, time.Since(t0))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, firstErr
}

func percentiles(lat []time.Duration) (p50, p99 float64) {
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))].Microseconds()) / 1000
	}
	return at(0.50), at(0.99)
}

func bare(args []string) error {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	dir := fs.String("model", "", "checkpoint directory")
	endpoint := fs.String("endpoint", "score", "score or generate")
	n := fs.Int("n", 300, "calls")
	bf16 := fs.Bool("bf16", false, "products at bfloat16 (as kioku serve -bf16)")
	fs.Parse(args)
	m, vocab, err := lm.Load(*dir)
	if err != nil {
		return err
	}
	if *bf16 {
		m.SetPrecision(fn.BFloat16)
	}
	tok := seq.WordTokenizer{}
	lat := make([]time.Duration, 0, *n)
	for i := -20; i < *n; i++ { // 20 calls of warm-up
		t0 := time.Now()
		if *endpoint == "score" {
			ids := vocab.Encode(tok.Tokenize(text(i+20, scoreLen)))
			if _, err := m.Score(context.Background(), [][]int{ids}, lm.ScoreOptions{TokenLogProbs: true}); err != nil {
				return err
			}
		} else {
			ids := vocab.Encode(tok.Tokenize(text(i+20, primeLen)))
			for _, err := range m.Stream(context.Background(), ids, lm.SampleConfig{Length: genLen, Temperature: 1}, tensor.NewRNG(uint64(i+20))) {
				if err != nil {
					return err
				}
			}
		}
		if i >= 0 {
			lat = append(lat, time.Since(t0))
		}
	}
	p50, p99 := percentiles(lat)
	fmt.Printf("bare\t%s\tlibrary call\tp50 %.2f ms\tp99 %.2f ms\t(%d calls)\n", *endpoint, p50, p99, len(lat))
	return nil
}
