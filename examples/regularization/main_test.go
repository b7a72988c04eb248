package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReducedComparison trains two variants briefly on a small repetitive
// corpus and checks that learning happened (the loss falls well below the
// uniform ln V).
func TestReducedComparison(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "text.txt")
	text := strings.Repeat("the quick brown fox jumps over the lazy dog.\n", 400)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	o := options{data: path, tokens: 40000, valTokens: 2000, hidden: 32, layers: 1, emb: 16, batch: 8, bptt: 32, lr: 1e-2, clip: 5, seed: 1}
	ids, V := encode([]byte(text))
	train, val := splitData(ids, o.valTokens)
	for _, v := range variants()[:2] {
		valLoss, _, err := trainOne(o, v.cfg, V, train, val)
		if err != nil {
			t.Fatal(err)
		}
		if bound := 0.5 * math.Log(float64(V)); !(valLoss < bound) {
			t.Errorf("%s: validation loss %.3f, want < %.3f (half the uniform loss)", v.name, valLoss, bound)
		}
	}
	if err := run(options{data: filepath.Join(dir, "missing.txt")}); err == nil {
		t.Error("a missing file was accepted")
	}
}
