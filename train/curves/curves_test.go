package curves

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlot(t *testing.T) {
	cases := []struct {
		name, metrics, err string
	}{
		{"train and valid", `{"kind":"train","tokens":100,"loss":3}
{"kind":"train","tokens":200,"loss":2.5}
{"kind":"valid","tokens":200,"loss":2.7}
`, ""},
		{"train only", `{"kind":"train","tokens":100,"loss":3}` + "\n", ""},
		{"no train records", `{"kind":"valid","tokens":200,"loss":2.7}` + "\n", "no training records"},
		{"not JSON", "loss 3\n", "invalid character"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			in, out := filepath.Join(dir, "metrics.jsonl"), filepath.Join(dir, "curves.png")
			if err := os.WriteFile(in, []byte(c.metrics), 0o644); err != nil {
				t.Fatal(err)
			}
			err := Plot(in, out)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				if _, err := os.Stat(out); !os.IsNotExist(err) {
					t.Errorf("a failed plot left %s", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
				t.Errorf("%s is not a PNG (%v)", out, err)
			}
		})
	}
}
