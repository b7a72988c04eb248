package dataset_test

import (
	"fmt"
	"strings"

	"github.com/kioku-ml/kioku/seq2seq/dataset"
	"github.com/kioku-ml/kioku/tensor"
)

func ExampleGenerate() {
	task := dataset.TaskConfig{Task: dataset.Add, MinLen: 1, MaxLen: 3}
	train, err := dataset.Generate(task, 3, dataset.Holdout{Frac: 0.05, Seed: 1}, false, tensor.NewRNG(1))
	if err != nil {
		panic(err)
	}
	for _, p := range train {
		fmt.Println(strings.Join(p.Src, ""), "→", strings.Join(p.Tgt, ""))
	}
	// Output:
	// 9+19 → 28
	// 26+5 → 31
	// 605+585 → 1190
}

func ExampleReadTSV() {
	data := "Go.\tVa !\nI'm home.\tJe suis à la maison.\nI'm home.\tJe suis chez moi.\n"
	pairs, err := dataset.ReadTSV(strings.NewReader(data), dataset.ReadOptions{MaxWords: 10})
	if err != nil {
		panic(err)
	}
	srcs, refs := dataset.References(pairs)
	for i, s := range srcs {
		fmt.Printf("%q: %q\n", s, refs[i])
	}
	v := dataset.NewVocab(srcs, 1, 0)
	fmt.Println(v.Encode([]string{"go", "home", "now"}))
	// Output:
	// ["go" "."]: [["va" "!"]]
	// ["i'm" "home" "."]: [["je" "suis" "à" "la" "maison" "."] ["je" "suis" "chez" "moi" "."]]
	// [5 6 1]
}
