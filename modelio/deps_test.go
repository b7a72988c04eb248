package modelio

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeanDependencies: loading and running a model needs no plotting or
// terminal code. The library packages (lm with its loader lm.Load, nn,
// modelio, seq2seq) must not depend on gonum/plot, the progress bar or
// x/term, and seq2seq must not pull in its attention plots.
func TestLeanDependencies(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	const mod = "github.com/kioku-ml/kioku/"
	cases := []struct {
		pkgs      []string
		forbidden []string
	}{
		{[]string{"lm", "nn", "modelio", "seq2seq"}, []string{"gonum.org/v1/plot", "github.com/schollz/progressbar", "golang.org/x/term"}},
		{[]string{"seq2seq"}, []string{mod + "seq2seq/attnplot", mod + "train"}},
		{[]string{"lm"}, []string{mod + "train"}},
	}
	for _, c := range cases {
		args := []string{"list", "-deps"}
		for _, p := range c.pkgs {
			args = append(args, mod+p)
		}
		out, err := exec.Command(goTool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		for dep := range strings.Lines(string(out)) {
			dep = strings.TrimSpace(dep)
			for _, f := range c.forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%v depend on %s", c.pkgs, dep)
				}
			}
		}
	}
}
