package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestBenchGemm(t *testing.T) {
	code, out, errOut := runCLI("bench", "gemm", "-shapes", "16x24x8,3x40x5t", "-threads", "1,2", "-time", "2ms", "-reps", "2")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %d lines, want 4:\n%s", len(lines), out)
	}
	var r gemmResult
	if err := json.Unmarshal([]byte(lines[3]), &r); err != nil {
		t.Fatal(err)
	}
	if r.M != 3 || r.N != 40 || r.K != 5 || r.Threads != 2 || !(r.GFLOPS > 0) {
		t.Errorf("last line %+v", r)
	}
}

func TestCLIErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Usage"},
		{[]string{"nosuch"}, 2, `unknown command "nosuch"`},
		{[]string{"bench", "lstm", "nope"}, 1, `unknown config "nope"`},
		{[]string{"bench", "-time", "0"}, 1, "must be positive"},
		{[]string{"bench", "fft"}, 2, `unknown benchmark "fft"`},
		{[]string{"bench", "gemm", "-shapes", "2x3"}, 1, `bad shape "2x3"`},
		{[]string{"bench", "gemm", "-shapes", "2x0x3"}, 1, `"0" is not a positive integer`},
		{[]string{"bench", "gemm", "-threads", "two"}, 1, `bad thread count "two"`},
		{[]string{"bench", "gemm", "-nosuchflag"}, 2, "flag provided but not defined"},
		{[]string{"bench", "gemm", "extra"}, 2, "unexpected arguments"},
	} {
		code, _, errOut := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("kioku %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"bench", "gemm", "--help"}, {"bench", "help"}} {
		code, out, errOut := runCLI(args...)
		if code != 0 || !strings.Contains(out+errOut, "Usage") {
			t.Errorf("kioku %q: exit %d, output %q", args, code, out+errOut)
		}
	}
}

func TestParseShapes(t *testing.T) {
	s, err := parseShapes("squares,lstm,5x6x7t")
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 6+16+1 {
		t.Fatalf("got %d shapes", len(s))
	}
	if last := s[len(s)-1]; last != (gemmShape{5, 6, 7, true}) {
		t.Errorf("last shape %+v", last)
	}
	if s[6] != (gemmShape{1, 800, 200, true}) {
		t.Errorf("first LSTM shape %+v", s[6])
	}
}

func TestBenchLSTM(t *testing.T) {
	code, out, errOut := runCLI("bench", "-time", "20ms", "infer-b1")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	var r lstmResult
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	if r.Config != "infer-b1" || !(r.TrainTokS > 0) || !(r.InferTokS > 0) || !(r.TrainGFLOPS > 0) || r.AllocPerStep <= 0 {
		t.Fatalf("result %+v", r)
	}
}
