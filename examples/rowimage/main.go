// Command rowimage generates images of digits row by row with an LSTM
// whose initial state is learned, one per class: the study deck's "RNN
// slice pixel" demonstration of a learned h0.
//
//	go run ./examples/rowimage
//
// The training images are the digits 0–9 drawn with the Go fonts
// (golang.org/x/image/font/gofont: regular, bold, medium, italic, mono,
// mono bold) at varied sizes and offsets in -size×-size grey images. The
// LSTM reads an image one row at a time and predicts the next row from the
// rows so far; the first row is predicted from the initial state alone.
// That initial state (h0 and c0) comes from two embedding tables indexed by
// the class, so each digit has its own learned h0.
//
// To generate, the LSTM starts from an initial state and feeds each
// predicted row back as the next input. The program writes to the -out
// directory:
//
//   - rowimage_train.png: training images, one column per class;
//   - rowimage_learned.png: images generated from each class's learned h0
//     (first row), then from that h0 with small Gaussian noise added
//     (following rows);
//   - rowimage_random.png: images generated from random initial states
//     (Gaussian, with the mean and spread of the learned ones).
//
// It prints the training and held-out losses (mean squared error per pixel,
// teacher forcing) and how often a generated image is nearest to the mean
// training image of the class whose h0 produced it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"iter"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/examples/internal/figure"
	"github.com/kioku-ml/kioku/examples/internal/fit"
	"github.com/kioku-ml/kioku/fn"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/tensor"
)

// classes is the number of digits.
const classes = 10

// options are the program's settings.
type options struct {
	size      int     // image side in pixels
	perClass  int     // training images per digit
	minHeight float64 // smallest digit height, as a fraction of the image
	maxHeight float64 // largest
	jitter    int     // largest shift from the centre, in pixels
	hidden    int
	batch     int
	epochs    int
	lr, clip  float64
	gen       string  // generation mode: genMean, genGreedy or genSample
	noise     float64 // spread of the noise added to learned h0s, relative to their spread
	randomN   int     // images generated from random initial states
	seed      uint64
	out       string
	verbose   io.Writer // progress lines, or nil
	testCount int       // held-out images per digit
}

func main() {
	var o options
	flag.IntVar(&o.size, "size", 16, "image side in pixels")
	flag.IntVar(&o.perClass, "per-class", 300, "training images per digit")
	flag.Float64Var(&o.minHeight, "min-height", 0.6, "smallest digit height, as a fraction of the image")
	flag.Float64Var(&o.maxHeight, "max-height", 0.8, "largest digit height, as a fraction of the image")
	flag.IntVar(&o.jitter, "jitter", 1, "largest shift of a digit from the centre, in pixels")
	flag.IntVar(&o.hidden, "hidden", 128, "LSTM units")
	flag.IntVar(&o.batch, "batch", 50, "images per update")
	flag.IntVar(&o.epochs, "epochs", 40, "passes over the training images")
	flag.Float64Var(&o.lr, "lr", 3e-3, "Adam learning rate")
	flag.Float64Var(&o.clip, "clip", 5, "gradient clipping threshold (global norm)")
	flag.StringVar(&o.gen, "gen", genMean, "what generation feeds back: greedy (intensities rounded to 0 or 1), sample (0 or 1 drawn with the intensity as probability) or mean (the intensities)")
	flag.Float64Var(&o.noise, "noise", 0.3, "noise added to the learned h0s in the later rows of rowimage_learned.png, relative to their spread")
	flag.IntVar(&o.randomN, "random", 30, "images generated from random initial states")
	flag.Uint64Var(&o.seed, "seed", 1, "random seed")
	flag.StringVar(&o.out, "out", filepath.Join(os.TempDir(), "kioku-examples", "rowimage"), "directory for the image grids")
	flag.Parse()
	o.testCount = 30
	o.verbose = os.Stderr
	if _, err := run(o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "rowimage:", err)
		os.Exit(1)
	}
}

func (o options) check() error {
	switch {
	case o.size < 8 || o.size > 64:
		return fmt.Errorf("-size %d: want 8 to 64 pixels", o.size)
	case o.perClass <= 0, o.hidden <= 0, o.batch <= 0, o.epochs <= 0, o.randomN <= 0, o.testCount <= 0:
		return errors.New("-per-class, -hidden, -batch, -epochs and -random must be positive")
	case o.gen != genMean && o.gen != genGreedy && o.gen != genSample:
		return fmt.Errorf("-gen %q: want greedy, sample or mean", o.gen)
	case !(o.lr > 0), !(o.clip > 0), !(o.noise >= 0):
		return fmt.Errorf("-lr %v and -clip %v must be positive, -noise %v not negative", o.lr, o.clip, o.noise)
	}
	return nil
}

// sample is one training image: size×size intensities, row by row.
type sample struct {
	px    []float32
	label int
}

// dataset renders n images of each digit.
func dataset(r *renderer, rng *tensor.RNG, n int) ([]sample, error) {
	var imgs []sample
	for range n {
		for d := range classes {
			px, err := r.render(rng, d)
			if err != nil {
				return nil, err
			}
			imgs = append(imgs, sample{px, d})
		}
	}
	return imgs, nil
}

// model is the row-by-row generator: per-class initial states, an LSTM
// over rows, and a linear layer from the state to the next row's logits.
type model struct {
	h0, c0 *nn.Embedding // class → initial h and c
	rnn    *nn.NStepLSTM
	out    *nn.Linear
	size   int
	hidden int
}

// NamedParams names the parameters h0.weight, c0.weight, rnn.…, out.….
func (m *model) NamedParams() iter.Seq2[string, *autograd.Variable] {
	return nn.Join(nn.Sub("h0", m.h0), nn.Sub("c0", m.c0), nn.Sub("rnn", m.rnn), nn.Sub("out", m.out))
}

// Params returns the parameters in the order of NamedParams.
func (m *model) Params() []*autograd.Variable { return nn.Vars(m.NamedParams()) }

func newModel(o options, rng *tensor.RNG) (*model, error) {
	m := &model{size: o.size, hidden: o.hidden}
	var err error
	if m.h0, err = nn.NewEmbedding(nn.EmbeddingConfig{Vocab: classes, Dim: o.hidden}, rng); err != nil {
		return nil, err
	}
	if m.c0, err = nn.NewEmbedding(nn.EmbeddingConfig{Vocab: classes, Dim: o.hidden}, rng); err != nil {
		return nil, err
	}
	// Start the initial states small, as a zero state would be.
	m.h0.Weight.Data.Scale(0.1)
	m.c0.Weight.Data.Scale(0.1)
	if m.rnn, err = nn.NewNStepLSTM(nn.RecurrentConfig{InputSize: o.size, HiddenSize: o.hidden, ForgetBias: 1}, rng); err != nil {
		return nil, err
	}
	m.out, err = nn.NewLinear(nn.LinearConfig{In: o.hidden, Out: o.size}, rng)
	return m, err
}

// loss is the teacher-forced mean squared error per pixel of a batch: the
// input at step t is row t−1 (zeros at t = 0), the target row t.
func (m *model) loss(batch []sample) *autograd.Variable {
	S := m.size
	xs := make([]*autograd.Variable, len(batch))
	labels := make([]int, len(batch))
	var tgt []float32
	for i, im := range batch {
		x := make([]float32, S*S)
		copy(x[S:], im.px[:S*(S-1)])
		xs[i] = autograd.NewVariable(tensor.FromFloat32(x, S, S))
		labels[i] = im.label
		tgt = append(tgt, im.px...)
	}
	B := len(batch)
	h0 := fn.Reshape(m.h0.Forward(labels), 1, B, m.hidden)
	c0 := fn.Reshape(m.c0.Forward(labels), 1, B, m.hidden)
	ys, _ := m.rnn.Forward(xs, nn.State{H: h0, C: c0})
	pred := fn.Sigmoid(m.out.Forward(fn.Concat(ys, 0))) // (B·S, S)
	return fn.MeanSquaredError(pred, autograd.NewVariable(tensor.FromFloat32(tgt, B*S, S)))
}

// Generation modes: what is fed back as the next input.
const (
	genMean   = "mean"   // the predicted intensities
	genGreedy = "greedy" // the predicted intensities rounded to 0 or 1
	genSample = "sample" // 0 or 1 drawn with the predicted intensity as the probability of ink
)

// generate runs the LSTM from the initial states h, c (B, H each), feeding
// each predicted row back as mode says, and returns B images (what was
// fed back).
func (m *model) generate(h, c *tensor.Tensor, mode string, rng *tensor.RNG) [][]float64 {
	S, B := m.size, h.Dim(0)
	imgs := make([][]float64, B)
	autograd.NoGrad(m.Params(), func() {
		hv := autograd.NewVariable(h.Reshape(1, B, m.hidden))
		cv := autograd.NewVariable(c.Reshape(1, B, m.hidden))
		prev := tensor.New(tensor.Float32, B, S)
		for range S {
			xs := make([]*autograd.Variable, B)
			for i := range B {
				xs[i] = autograd.NewVariable(prev.Slice(i, i+1).Clone())
			}
			ys, st := m.rnn.Forward(xs, nn.State{H: hv, C: cv})
			row := fn.Sigmoid(m.out.Forward(fn.Concat(ys, 0))).Data // (B, S)
			for i := range B {
				for j := range S {
					v := row.At(i, j)
					switch mode {
					case genGreedy:
						v = math.Round(v)
					case genSample:
						if rng.Float64() < v {
							v = 1
						} else {
							v = 0
						}
					}
					row.Set(v, i, j)
					imgs[i] = append(imgs[i], v)
				}
			}
			hv, cv, prev = st.H, st.C, row
		}
	})
	return imgs
}

// summary holds the figures of a run, for tests.
type summary struct {
	firstLoss, lastLoss, testLoss float64
	baseline                      float64 // held-out MSE of predicting each image's mean intensity
	learnedHits                   int     // generated images from learned h0 nearest their class mean (of 10)
	noisyHits, noisyN             int
	randomNearest                 [classes]int // class means nearest to the images from random h0s
	took                          time.Duration
}

func run(o options, w io.Writer) (summary, error) {
	var s summary
	if err := o.check(); err != nil {
		return s, err
	}
	rng := tensor.NewRNG(o.seed)
	rd, err := newRenderer(o.size, o.minHeight, o.maxHeight, o.jitter)
	if err != nil {
		return s, err
	}
	train, err := dataset(rd, rng.Split(), o.perClass)
	if err != nil {
		return s, err
	}
	test, err := dataset(rd, rng.Split(), o.testCount)
	if err != nil {
		return s, err
	}
	m, err := newModel(o, rng.Split())
	if err != nil {
		return s, err
	}
	opt, err := fit.Adam(m.NamedParams(), o.lr, o.clip)
	if err != nil {
		return s, err
	}
	fmt.Fprintf(w, "digits 0–9 in 6 Go fonts, %d×%d pixels, %d training images per digit; LSTM %d with one learned (h0, c0) per digit; Adam lr %g, batch %d, %d epochs\n",
		o.size, o.size, o.perClass, o.hidden, o.lr, o.batch, o.epochs)

	evalLoss := func(imgs []sample) float64 {
		var sum float64
		autograd.NoGrad(m.Params(), func() {
			for b := 0; b < len(imgs); b += 200 {
				part := imgs[b:min(b+200, len(imgs))]
				sum += m.loss(part).Data.Item() * float64(len(part))
			}
		})
		return sum / float64(len(imgs))
	}
	start := time.Now()
	order := rng.Split()
	for epoch := range o.epochs {
		if epoch == o.epochs*3/4 {
			opt.SetLR(o.lr / 4)
		}
		mse, err := fit.Epoch(opt, order, len(train), o.batch, func(idx []int) *autograd.Variable {
			batch := make([]sample, len(idx))
			for k, i := range idx {
				batch[k] = train[i]
			}
			return m.loss(batch)
		})
		if err != nil {
			return s, err
		}
		if epoch == 0 {
			s.firstLoss = mse
		}
		s.lastLoss = mse
		if o.verbose != nil && (epoch+1)%max(1, o.epochs/10) == 0 {
			fmt.Fprintf(o.verbose, "epoch %d/%d: training MSE per pixel %.4f\n", epoch+1, o.epochs, mse)
		}
	}
	s.took = time.Since(start)
	s.testLoss, s.baseline = evalLoss(test), meanBaseline(test)
	fmt.Fprintf(w, "training MSE per pixel (teacher forcing): first epoch %.4f, last epoch %.4f; held-out %.4f (predicting each image's mean: %.4f); %s\n",
		s.firstLoss, s.lastLoss, s.testLoss, s.baseline, s.took.Round(time.Second))

	// Class means of the training images, to name what was generated.
	means := classMeans(train, o.size)

	// From the learned h0s: one row of clean ones, then noisy ones.
	H := o.hidden
	hW, cW := m.h0.Weight.Data, m.c0.Weight.Data
	hMean, hStd := meanStd(hW)
	cMean, cStd := meanStd(cW)
	const noisyRows = 3
	hs := tensor.New(tensor.Float32, classes*(1+noisyRows), H)
	cs := tensor.New(tensor.Float32, classes*(1+noisyRows), H)
	noise := rng.Split()
	for r := range 1 + noisyRows {
		for d := range classes {
			i := r*classes + d
			for j := range H {
				hv, cv := hW.At(d, j), cW.At(d, j)
				if r > 0 {
					hv += o.noise * hStd * noise.NormFloat64()
					cv += o.noise * cStd * noise.NormFloat64()
				}
				hs.Set(hv, i, j)
				cs.Set(cv, i, j)
			}
		}
	}
	learned := m.generate(hs, cs, o.gen, noise)
	for i, im := range learned {
		hit := nearest(means, im) == i%classes
		if i < classes {
			if hit {
				s.learnedHits++
			}
		} else {
			s.noisyN++
			if hit {
				s.noisyHits++
			}
		}
	}

	// From random initial states with the learned ones' mean and spread.
	hr := tensor.New(tensor.Float32, o.randomN, H)
	cr := tensor.New(tensor.Float32, o.randomN, H)
	hr.RandNormal(noise, hMean, hStd)
	cr.RandNormal(noise, cMean, cStd)
	random := m.generate(hr, cr, o.gen, noise)
	for _, im := range random {
		s.randomNearest[nearest(means, im)]++
	}
	fmt.Fprintf(w, "generated from the learned h0s: %d of %d nearest to their own digit's mean image; with noise (%.2g × spread): %d of %d\n",
		s.learnedHits, classes, o.noise, s.noisyHits, s.noisyN)
	fmt.Fprintf(w, "generated from %d random h0s (N(%.3f, %.3f²) for h, N(%.3f, %.3f²) for c): nearest digit counts %v\n",
		o.randomN, hMean, hStd, cMean, cStd, s.randomNearest)

	if o.out == "" {
		return s, nil
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return s, err
	}
	var samples [][]float64
	for r := range 4 {
		for d := range classes {
			samples = append(samples, toFloat64(train[r*classes+d].px))
		}
	}
	for _, g := range []struct {
		name string
		imgs [][]float64
	}{{"rowimage_train.png", samples}, {"rowimage_learned.png", learned}, {"rowimage_random.png", random}} {
		grid, err := figure.Grid(g.imgs, o.size, o.size, classes, 3)
		if err != nil {
			return s, err
		}
		path := filepath.Join(o.out, g.name)
		if err := figure.SaveImagePNG(path, grid); err != nil {
			return s, err
		}
		fmt.Fprintf(w, "wrote %s\n", path)
	}
	return s, nil
}

func toFloat64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// meanStd returns the mean and standard deviation of the entries of t.
func meanStd(t *tensor.Tensor) (mean, std float64) {
	v := t.Values()
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)))
}

// classMeans returns the mean image of each digit.
func classMeans(imgs []sample, size int) [][]float64 {
	means := make([][]float64, classes)
	counts := make([]int, classes)
	for d := range means {
		means[d] = make([]float64, size*size)
	}
	for _, im := range imgs {
		for i, v := range im.px {
			means[im.label][i] += float64(v)
		}
		counts[im.label]++
	}
	for d := range means {
		for i := range means[d] {
			means[d][i] /= float64(max(1, counts[d]))
		}
	}
	return means
}

// nearest returns the digit whose mean image is closest to im.
func nearest(means [][]float64, im []float64) int {
	best, bestD := 0, math.Inf(1)
	for d, m := range means {
		dist := 0.0
		for i := range m {
			dist += (m[i] - im[i]) * (m[i] - im[i])
		}
		if dist < bestD {
			best, bestD = d, dist
		}
	}
	return best
}

// meanBaseline is the MSE per pixel of predicting every pixel of an image
// by the image's mean intensity (an easy reference for the losses).
func meanBaseline(imgs []sample) float64 {
	var sum float64
	n := 0
	for _, im := range imgs {
		mu := 0.0
		for _, v := range im.px {
			mu += float64(v)
		}
		mu /= float64(len(im.px))
		for _, v := range im.px {
			sum += (float64(v) - mu) * (float64(v) - mu)
			n++
		}
	}
	return sum / float64(n)
}
