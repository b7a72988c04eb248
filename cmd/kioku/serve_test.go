package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain lets a test start this test binary as the kioku command:
// with KIOKU_RUN_MAIN=1 it runs main with the arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("KIOKU_RUN_MAIN") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Exit(run(os.Args[i+1:], os.Stdout, os.Stderr))
			}
		}
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// startKioku starts the kioku command as a process of its own and
// returns it with its standard output, read line by line.
func startKioku(t *testing.T, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "KIOKU_RUN_MAIN=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, bufio.NewScanner(out)
}

// servedAddr reads the server's lines up to "listening on URL".
func servedAddr(t *testing.T, sc *bufio.Scanner) string {
	t.Helper()
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
			return u
		}
	}
	t.Fatalf("the server stopped before listening: %v", sc.Err())
	return ""
}

// trainTiny trains a tiny character model for the server tests.
func trainTiny(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	data := writeCorpus(t, dir)
	out := filepath.Join(dir, "run")
	if code, _, stderr := runCLI("train", "-data", data, "-out", out, "-epochs", "1", "-emb", "8", "-hidden", "16", "-layers", "1", "-batch", "4", "-bptt", "8", "-sample", "0"); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	return filepath.Join(out, "best")
}

func post(url, body string) (int, string, error) {
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// TestServeEndToEnd starts the real command on a loopback port with a
// model trained in the test, and checks each endpoint over HTTP.
func TestServeEndToEnd(t *testing.T) {
	model := trainTiny(t)
	cmd, sc := startKioku(t, "serve", "-model", "tiny="+model, "-addr", "127.0.0.1:0")
	url := servedAddr(t, sc)
	for _, c := range []struct {
		path, body, want string
		code             int
	}{
		{"/readyz", "", `"ready"`, 200},
		{"/v1/models", "", `"name":"tiny"`, 200},
		{"/v1/models/tiny/score", `{"texts":["the cat sat on the mat."]}`, `"perplexity"`, 200},
		{"/v1/models/tiny/generate", `{"prime":"the ","max_tokens":20,"seed":4}`, `"tokens":20`, 200},
		{"/v1/models/tiny/translate", `{"sources":["a"]}`, `"wrong_kind"`, 404},
		{"/metrics", "", `kioku_requests_total{code="200",endpoint="score",model="tiny"} 1`, 200},
	} {
		var code int
		var body string
		var err error
		if c.body == "" {
			var resp *http.Response
			if resp, err = http.Get(url + c.path); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				code, body = resp.StatusCode, string(b)
			}
		} else {
			code, body, err = post(url+c.path, c.body)
		}
		if err != nil || code != c.code || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s %v; want %d with %s", c.path, code, body, err, c.code, c.want)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v; want exit 0", err)
	}
}

// TestServeSIGTERMDuringLoad sends SIGTERM while 16 clients keep
// sending requests: every request the server accepted completes with
// 200, later ones are refused (503, or the connection), and the server
// exits 0.
func TestServeSIGTERMDuringLoad(t *testing.T) {
	model := trainTiny(t)
	cmd, sc := startKioku(t, "serve", "-model", model, "-addr", "127.0.0.1:0")
	url := servedAddr(t, sc)
	var ok, refused atomic.Int64
	var bad []string
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := post(url+"/v1/models/default/generate", fmt.Sprintf(`{"prime":"the ","max_tokens":40,"seed":%d}`, g*1000+i))
				switch {
				case err != nil: // the listener is closed
					refused.Add(1)
					return
				case code == 200 && strings.Contains(body, `"tokens":40`):
					ok.Add(1)
				case code == 503:
					refused.Add(1)
				default:
					mu.Lock()
					bad = append(bad, fmt.Sprintf("%d %s", code, body))
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Errorf("after SIGTERM: %v; want exit 0", err)
	}
	if len(bad) > 0 {
		t.Errorf("%d requests failed, e.g. %s", len(bad), bad[0])
	}
	if ok.Load() == 0 {
		t.Error("no request completed before the signal")
	}
	t.Logf("%d requests completed, %d refused after the signal", ok.Load(), refused.Load())
}
