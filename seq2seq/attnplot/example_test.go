package attnplot_test

import (
	"bytes"
	"fmt"

	"github.com/kioku-ml/kioku/seq2seq/attnplot"
)

func ExampleWritePNG() {
	weights := [][]float64{ // one row per output token, as seq2seq.Hypothesis.Attention
		{0.9, 0.1},
		{0.2, 0.8},
		{0.5, 0.5},
	}
	var png bytes.Buffer
	err := attnplot.WritePNG(&png, weights, []string{"je", "suis"}, []string{"i", "am", "</s>"}, "attention")
	fmt.Println(err, bytes.HasPrefix(png.Bytes(), []byte("\x89PNG")))
	// Output:
	// <nil> true
}
