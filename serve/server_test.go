package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kioku-ml/kioku/lm"
	"github.com/kioku-ml/kioku/seq"
	"github.com/kioku-ml/kioku/seq2seq"
	"github.com/kioku-ml/kioku/seq2seq/dataset"
	"github.com/kioku-ml/kioku/tensor"
)

const corpus = "the cat sat on the mat. a dog ate the bone. my bird sings a song.\n"

// testModels returns a small character language model ("lm") and a
// small word seq2seq model ("mt") with random weights: what the server
// does with them does not depend on training.
func testModels(t testing.TB) []*Model {
	t.Helper()
	vocab, err := seq.NewVocab(seq.CharTokenizer{}.Tokenize(corpus), 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	model, err := lm.New(lm.Config{Cell: "lstm", Tokenizer: "char", Vocab: vocab.Len(), Emb: 16, Hidden: 32, Layers: 2, Dropout: 0.2}, tensor.NewRNG(1))
	if err != nil {
		t.Fatal(err)
	}
	lmModel, err := NewLanguageModel("lm", model, vocab)
	if err != nil {
		t.Fatal(err)
	}
	words := [][]string{dataset.Tokenize(corpus)}
	src, tgt := dataset.NewVocab(words, 1, 0), dataset.NewVocab(words, 1, 0)
	cfg := seq2seq.Config{SrcVocab: src.Len(), TgtVocab: tgt.Len(), BOS: dataset.BOS, EOS: dataset.EOS, Embed: 8, Hidden: 16, Bidirectional: true, Attention: seq2seq.General, InputFeeding: true}
	s2s, err := seq2seq.NewModel(cfg, tensor.NewRNG(2))
	if err != nil {
		t.Fatal(err)
	}
	mt, err := NewSeq2seqModel("mt", &seq2seq.Loaded{Meta: seq2seq.Meta{Version: seq2seq.MetaVersion, Config: cfg, Src: src.Tokens(), Tgt: tgt.Tokens(), Tokens: seq2seq.TokensWords}, Model: s2s, Src: src, Tgt: tgt})
	if err != nil {
		t.Fatal(err)
	}
	return []*Model{lmModel, mt}
}

func newTestServer(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := New(testModels(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// do sends one request to h and returns the status and body.
func do(h http.Handler, method, path, body string, header ...string) (int, string, http.Header) {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String(), rec.Header()
}

// TestEndpoints checks every endpoint's answer and every error, each a
// JSON body with the expected code.
func TestEndpoints(t *testing.T) {
	s := newTestServer(t, Options{MaxTokens: 200, MaxTexts: 3, MaxBodyBytes: 400})
	big := strings.Repeat("a", 401)
	cases := []struct {
		name, method, path, body string
		header                   []string
		status                   int
		want                     string // in the body
	}{
		{"healthz", "GET", "/healthz", "", nil, 200, `"ok"`},
		{"readyz", "GET", "/readyz", "", nil, 200, `"ready"`},
		{"models", "GET", "/v1/models", "", nil, 200, `"name":"lm"`},
		{"model", "GET", "/v1/models/mt", "", nil, 200, `"endpoints":["translate"]`},
		{"unknown model info", "GET", "/v1/models/nope", "", nil, 404, `"unknown_model"`},
		{"score", "POST", "/v1/models/lm/score", `{"texts":["the cat","a dog sat"]}`, nil, 200, `"nats_per_token"`},
		{"score log-probs", "POST", "/v1/models/lm/score", `{"texts":["the cat"],"log_probs":true}`, nil, 200, `"log_probs":[`},
		{"score unknown chars", "POST", "/v1/models/lm/score", `{"texts":["the çat"]}`, nil, 200, `"unknown_tokens":1`},
		{"generate", "POST", "/v1/models/lm/generate", `{"prime":"the ","max_tokens":10,"seed":3}`, nil, 200, `"finish_reason":"length"`},
		{"generate defaults", "POST", "/v1/models/lm/generate", `{}`, nil, 200, `"tokens":100`},
		{"generate stop", "POST", "/v1/models/lm/generate", `{"max_tokens":150,"stop":["a","e","t"," "],"seed":1}`, nil, 200, `"finish_reason":"stop"`},
		{"translate greedy", "POST", "/v1/models/mt/translate", `{"sources":["the cat sat ."]}`, nil, 200, `"hypotheses":[{"text":`},
		{"translate beam n-best", "POST", "/v1/models/mt/translate", `{"sources":["the cat sat .","a dog"],"beam":3,"n_best":2}`, nil, 200, `"finished"`},
		{"translate sampled", "POST", "/v1/models/mt/translate", `{"sources":["the cat"],"temperature":0.7,"seed":5}`, nil, 200, `"log_prob"`},
		{"wrong kind", "POST", "/v1/models/mt/score", `{"texts":["a b"]}`, nil, 404, `"wrong_kind"`},
		{"wrong kind 2", "POST", "/v1/models/lm/translate", `{"sources":["a"]}`, nil, 404, `"wrong_kind"`},
		{"unknown model", "POST", "/v1/models/nope/score", `{"texts":["ab"]}`, nil, 404, `"unknown_model"`},
		{"unknown path", "GET", "/v2/x", "", nil, 404, `"not_found"`},
		{"method", "GET", "/v1/models/lm/score", "", nil, 405, `"method_not_allowed"`},
		{"invalid JSON", "POST", "/v1/models/lm/score", `{"texts":[`, nil, 400, `"invalid_request"`},
		{"not an object", "POST", "/v1/models/lm/score", `["a"]`, nil, 400, `invalid JSON`},
		{"two objects", "POST", "/v1/models/lm/score", `{"texts":["ab"]}{}`, nil, 400, `data after the object`},
		{"unknown field", "POST", "/v1/models/lm/score", `{"texts":["ab"],"temperature":1}`, nil, 400, `unknown field`},
		{"wrong type", "POST", "/v1/models/lm/score", `{"texts":"ab"}`, nil, 400, `field \"texts\"`},
		{"invalid UTF-8", "POST", "/v1/models/lm/score", "{\"texts\":[\"a\xffb\"]}", nil, 400, `not valid UTF-8`},
		{"empty body", "POST", "/v1/models/lm/score", "", nil, 400, `empty body`},
		{"body too large", "POST", "/v1/models/lm/score", `{"texts":["` + big + `"]}`, nil, 413, `"body_too_large"`},
		{"media type", "POST", "/v1/models/lm/score", `{"texts":["ab"]}`, []string{"Content-Type", "text/plain"}, 415, `"unsupported_media_type"`},
		{"json media type ok", "POST", "/v1/models/lm/score", `{"texts":["ab"]}`, []string{"Content-Type", "application/json; charset=utf-8"}, 200, `"results"`},
		{"no texts", "POST", "/v1/models/lm/score", `{"texts":[]}`, nil, 400, `\"texts\" is empty`},
		{"one token", "POST", "/v1/models/lm/score", `{"texts":["a"]}`, nil, 400, `at least two`},
		{"empty text", "POST", "/v1/models/lm/score", `{"texts":["ab",""]}`, nil, 400, `text 1 has 0 token`},
		{"too many texts", "POST", "/v1/models/lm/score", `{"texts":["ab","ab","ab","ab"]}`, nil, 413, `"too_many_texts"`},
		{"too many tokens", "POST", "/v1/models/lm/score", `{"texts":["` + strings.Repeat("ab", 101) + `"]}`, nil, 413, `"too_many_tokens"`},
		{"negative max_tokens", "POST", "/v1/models/lm/generate", `{"max_tokens":-1}`, nil, 400, `must be positive`},
		{"max_tokens past limit", "POST", "/v1/models/lm/generate", `{"max_tokens":200}`, nil, 413, `"too_many_tokens"`},
		{"zero temperature", "POST", "/v1/models/lm/generate", `{"temperature":0}`, nil, 400, `\"temperature\"`},
		{"huge temperature", "POST", "/v1/models/lm/generate", `{"temperature":1e300}`, nil, 400, `\"temperature\"`},
		{"negative top_k", "POST", "/v1/models/lm/generate", `{"top_k":-2}`, nil, 400, `\"top_k\"`},
		{"unknown stop", "POST", "/v1/models/lm/generate", `{"stop":["zz"]}`, nil, 400, `stop token \"zz\"`},
		{"negative seed", "POST", "/v1/models/lm/generate", `{"seed":-1}`, nil, 400, `field \"seed\"`},
		{"no sources", "POST", "/v1/models/mt/translate", `{"sources":[]}`, nil, 400, `\"sources\" is empty`},
		{"blank source", "POST", "/v1/models/mt/translate", `{"sources":["  "]}`, nil, 400, `source 0 is empty`},
		{"beam too wide", "POST", "/v1/models/mt/translate", `{"sources":["a"],"beam":65}`, nil, 400, `\"beam\"`},
		{"n_best past beam", "POST", "/v1/models/mt/translate", `{"sources":["a"],"beam":2,"n_best":3}`, nil, 400, `\"n_best\"`},
		{"sampling and beam", "POST", "/v1/models/mt/translate", `{"sources":["a"],"beam":2,"temperature":1}`, nil, 400, `not both`},
		{"bad length penalty", "POST", "/v1/models/mt/translate", `{"sources":["a"],"length_penalty":-1}`, nil, 400, `\"length_penalty\"`},
		{"translate too long", "POST", "/v1/models/mt/translate", `{"sources":["a"],"max_len":201}`, nil, 400, `\"max_len\"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body, hdr := do(s, c.method, c.path, c.body, c.header...)
			if code != c.status || !strings.Contains(body, c.want) {
				t.Fatalf("%s %s: %d %s; want %d with %s", c.method, c.path, code, body, c.status, c.want)
			}
			if code >= 400 {
				var e errorBody
				if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
					t.Errorf("error body %q is not {\"error\": {\"code\", \"message\"}}", body)
				}
			}
			if code == 405 && hdr.Get("Allow") != "POST" {
				t.Errorf("405 with Allow %q", hdr.Get("Allow"))
			}
			if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Errorf("Content-Type %q", hdr.Get("Content-Type"))
			}
		})
	}
}

// TestLimits: a full queue gives 429 with Retry-After, a draining server
// 503 and not ready, a request past the timeout 504.
func TestLimits(t *testing.T) {
	s := newTestServer(t, Options{MaxQueue: 2})
	s.models["lm"].queued.Add(2) // two requests in flight
	code, body, hdr := do(s, "POST", "/v1/models/lm/score", `{"texts":["ab"]}`)
	if code != 429 || hdr.Get("Retry-After") != "1" || !strings.Contains(body, "queue_full") {
		t.Errorf("full queue: %d %q Retry-After %q", code, body, hdr.Get("Retry-After"))
	}
	s.models["lm"].queued.Add(-2)
	if code, _, _ := do(s, "POST", "/v1/models/lm/score", `{"texts":["ab"]}`); code != 200 {
		t.Errorf("after the queue emptied: %d", code)
	}

	slow := newTestServer(t, Options{Timeout: time.Nanosecond})
	if code, body, _ := do(slow, "POST", "/v1/models/lm/generate", `{"max_tokens":50}`); code != 504 || !strings.Contains(body, `"timeout"`) {
		t.Errorf("timeout: %d %s", code, body)
	}

	s.Drain()
	if code, _, _ := do(s, "GET", "/readyz", ""); code != 503 {
		t.Errorf("readyz while draining: %d", code)
	}
	if code, body, _ := do(s, "POST", "/v1/models/lm/score", `{"texts":["ab"]}`); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("inference while draining: %d %s", code, body)
	}
	if code, _, _ := do(s, "GET", "/healthz", ""); code != 200 {
		t.Errorf("healthz while draining: %d", code)
	}
}

// TestClientGone: a client that disconnects is counted as 499 and its
// generation stops.
func TestClientGone(t *testing.T) {
	s := newTestServer(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("POST", "/v1/models/lm/generate", strings.NewReader(`{"max_tokens":50}`)).WithContext(ctx)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	_, metrics, _ := do(s, "GET", "/metrics", "")
	if !strings.Contains(metrics, `kioku_requests_total{code="499",endpoint="generate",model="lm"} 1`) {
		t.Errorf("no 499 in the metrics:\n%s", grep(metrics, "kioku_requests_total"))
	}
}

func grep(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetrics: the counters, histograms and gauges are there after
// traffic, in the Prometheus text format.
func TestMetrics(t *testing.T) {
	s := newTestServer(t, Options{})
	do(s, "POST", "/v1/models/lm/score", `{"texts":["the cat"]}`)
	do(s, "POST", "/v1/models/lm/score", `{"texts":[]}`)
	do(s, "POST", "/v1/models/mt/translate", `{"sources":["the cat"]}`)
	code, body, hdr := do(s, "GET", "/metrics", "")
	if code != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("metrics: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		`kioku_requests_total{code="200",endpoint="score",model="lm"} 1`,
		`kioku_requests_total{code="400",endpoint="score",model="lm"} 1`,
		`kioku_request_errors_total{endpoint="score",error="invalid_request",model="lm"} 1`,
		`kioku_request_duration_seconds_count{endpoint="translate",model="mt"} 1`,
		`kioku_batch_size_count{endpoint="score",model="lm"} 1`,
		`kioku_queue_length{model="lm"} 0`,
		`kioku_tokens_total{endpoint="score",model="lm"} 7`,
		`go_goroutines`, `process_resident_memory_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// request is one inference request of the load and equality tests.
type request struct{ path, body string }

func mixedRequests(n int) []request {
	texts := []string{"the cat sat", "a dog ate the bone.", "my bird", "the mat. a dog", "sings a song and more"}
	var out []request
	for i := range n {
		t := texts[i%len(texts)]
		switch i % 6 {
		case 0:
			out = append(out, request{"/v1/models/lm/score", fmt.Sprintf(`{"texts":[%q,%q],"log_probs":true}`, t, texts[(i+1)%len(texts)])})
		case 1:
			out = append(out, request{"/v1/models/lm/generate", fmt.Sprintf(`{"prime":%q,"max_tokens":%d,"seed":%d,"top_k":%d}`, t, 5+i%17, i, i%4)})
		case 2:
			out = append(out, request{"/v1/models/lm/generate", fmt.Sprintf(`{"prime":%q,"max_tokens":20,"seed":%d,"stop":["."]}`, t, i)})
		case 3:
			out = append(out, request{"/v1/models/mt/translate", fmt.Sprintf(`{"sources":[%q]}`, t)})
		case 4:
			out = append(out, request{"/v1/models/mt/translate", fmt.Sprintf(`{"sources":[%q,%q],"beam":3,"n_best":2}`, t, texts[(i+2)%len(texts)])})
		case 5:
			out = append(out, request{"/v1/models/mt/translate", fmt.Sprintf(`{"sources":[%q],"temperature":0.8,"seed":%d}`, t, i)})
		}
	}
	return out
}

// TestBatchedEqualsUnbatched is the bounded load test: 192 requests of
// every kind and 96 scoring requests at concurrency 32 on a batching server all succeed, batches
// of more than one request do form, and every answer is bit for bit the
// answer of a server that runs each request alone.
func TestBatchedEqualsUnbatched(t *testing.T) {
	batched := newTestServer(t, Options{MaxDelay: 5 * time.Millisecond})
	alone := newTestServer(t, Options{NoBatching: true})
	reqs := mixedRequests(192)
	for i := range 96 { // a burst of scoring alone, so that scoring batches form too
		reqs = append(reqs, mixedRequests(6 * (i + 1))[6*i])
	}
	want := make([]string, len(reqs))
	for i, r := range reqs {
		code, body, _ := do(alone, "POST", r.path, r.body)
		if code != 200 {
			t.Fatalf("%s %s: %d %s", r.path, r.body, code, body)
		}
		want[i] = body
	}
	srv := httptest.NewServer(batched)
	defer srv.Close()
	got := make([]string, len(reqs))
	var wg sync.WaitGroup
	work := make(chan int)
	errs := make(chan error, len(reqs))
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				resp, err := http.Post(srv.URL+reqs[i].path, "application/json", strings.NewReader(reqs[i].body))
				if err != nil {
					errs <- err
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errs <- fmt.Errorf("%s: %d %s", reqs[i].path, resp.StatusCode, b)
				}
				got[i] = string(b)
			}
		}()
	}
	for i := range reqs {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range reqs {
		if got[i] != want[i] {
			t.Errorf("%s %s:\nbatched %s\nalone   %s", reqs[i].path, reqs[i].body, got[i], want[i])
		}
	}
	_, metrics, _ := do(batched, "GET", "/metrics", "")
	for _, ep := range []string{"score", "generate", "translate"} {
		if !batchesFormed(metrics, ep) {
			t.Errorf("no %s batch of more than one text formed:\n%s", ep, grep(metrics, "kioku_batch_size"))
		}
	}
}

// batchesFormed reports whether some batch of endpoint held more than two
// texts or generations (a request scores two texts): the histogram's count
// above its "le=2" bucket.
func batchesFormed(metrics, endpoint string) bool {
	var two, all float64
	fmt.Sscanf(after(metrics, fmt.Sprintf(`kioku_batch_size_bucket{endpoint=%q,model=`, endpoint), `le="2"} `), "%g", &two)
	fmt.Sscanf(after(metrics, fmt.Sprintf(`kioku_batch_size_count{endpoint=%q,model=`, endpoint), "} "), "%g", &all)
	return all > two
}

// after returns what follows the first line starting with prefix and
// containing marker, from the end of marker.
func after(text, prefix, marker string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			if _, rest, ok := strings.Cut(l, marker); ok {
				return rest
			}
		}
	}
	return ""
}

// TestStreaming: server-sent events and NDJSON deliver the same tokens
// as the answer without streaming, then a final event with done set.
func TestStreaming(t *testing.T) {
	s := newTestServer(t, Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()
	_, plain, _ := do(s, "POST", "/v1/models/lm/generate", `{"prime":"the ","max_tokens":30,"seed":9}`)
	var want GenerateResponse
	if err := json.Unmarshal([]byte(plain), &want); err != nil {
		t.Fatal(err)
	}
	for _, accept := range []string{"text/event-stream", "application/x-ndjson"} {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/models/lm/generate", strings.NewReader(`{"prime":"the ","max_tokens":30,"seed":9,"stream":true}`))
		req.Header.Set("Accept", accept)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); ct != accept {
			t.Errorf("Content-Type %q, want %q", ct, accept)
		}
		var text strings.Builder
		var last GenerateResponse
		events := 0
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			if accept == "text/event-stream" {
				var ok bool
				if line, ok = strings.CutPrefix(line, "data: "); !ok {
					continue
				}
			}
			var ev struct {
				Token *string `json:"token"`
				GenerateResponse
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("event %q: %v", line, err)
			}
			events++
			if ev.Token != nil {
				text.WriteString(*ev.Token)
			} else {
				last = ev.GenerateResponse
			}
		}
		resp.Body.Close()
		want.Done = true
		if text.String() != want.Text || last != want || events != want.Tokens+1 {
			t.Errorf("%s: streamed %q, %d events, last %+v; want %q, %d events, %+v", accept, text.String(), events, last, want.Text, want.Tokens+1, want)
		}
	}
}

// TestNewErrors: names and configurations the server refuses.
func TestNewErrors(t *testing.T) {
	ms := testModels(t)
	if _, err := New(nil, Options{}); err == nil {
		t.Error("a server of no models")
	}
	if _, err := New([]*Model{ms[0], ms[0]}, Options{}); err == nil || !strings.Contains(err.Error(), "two models named") {
		t.Errorf("duplicate names: %v", err)
	}
	if _, err := New(ms, Options{MaxBatch: -1}); err == nil {
		t.Error("a negative limit")
	}
	for _, name := range []string{"", "a/b", "..", "x y", strings.Repeat("a", 65)} {
		if _, err := NewLanguageModel(name, ms[0].lm, ms[0].vocab); err == nil {
			t.Errorf("model name %q accepted", name)
		}
	}
	if _, err := Load("m", t.TempDir()); err == nil {
		t.Error("loading an empty directory")
	}
}

// FuzzHandlers feeds arbitrary bodies to every endpoint: the server
// never panics (a recovered panic would answer 500) and always answers
// with a JSON error or a result.
func FuzzHandlers(f *testing.F) {
	endpoints := []string{"score", "generate", "translate"}
	for _, r := range mixedRequests(6) {
		f.Add(uint8(slices.Index(endpoints, r.path[strings.LastIndex(r.path, "/")+1:])), r.body)
	}
	for _, b := range []string{``, `{}`, `null`, `[]`, `{"texts":null}`, `{"texts":[""]}`, `{"prime":"\u0000"}`, `{"max_tokens":1e99}`, `{"sources":["\ud800"]}`, `{"texts":["ab"]} x`} {
		for k := range endpoints {
			f.Add(uint8(k), b)
		}
	}
	s := newTestServer(f, Options{MaxTokens: 300, Timeout: 5 * time.Second})
	f.Fuzz(func(t *testing.T, kind uint8, body string) {
		endpoint := endpoints[int(kind)%len(endpoints)]
		model := "lm"
		if endpoint == "translate" {
			model = "mt"
		}
		code, resp, _ := do(s, "POST", "/v1/models/"+model+"/"+endpoint, body)
		if code == 500 || code == 0 {
			t.Fatalf("%s %q: %d %s", endpoint, body, code, resp)
		}
		if !json.Valid([]byte(resp)) {
			t.Fatalf("%s %q: %d, body %q is not JSON", endpoint, body, code, resp)
		}
		if code != 200 && !slices.Contains([]int{400, 413}, code) {
			t.Fatalf("%s %q: status %d", endpoint, body, code)
		}
	})
}
