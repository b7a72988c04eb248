package modelio

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/kioku-ml/kioku/autograd"
	"github.com/kioku-ml/kioku/internal/atomicfile"
	"github.com/kioku-ml/kioku/internal/boundedfile"
	"github.com/kioku-ml/kioku/modelio/safetensors"
	"github.com/kioku-ml/kioku/nn"
	"github.com/kioku-ml/kioku/optim"
	"github.com/kioku-ml/kioku/tensor"
)

// The files of a checkpoint directory.
const (
	// ManifestFile lists the other files with their sizes and SHA-256
	// sums, and holds the kind, counters, RNG states and metadata. It is
	// written last.
	ManifestFile = "checkpoint.json"
	// ConfigFile is the caller's model configuration, as JSON.
	ConfigFile = "config.json"
	// ModelFile holds the parameters by their nn.NamedParams names and
	// the buffers (nn.NamedBuffers: batch normalisation's running
	// statistics) by theirs, as StateDict gives them, in safetensors
	// format with metadata "format": "pt", so it is also a PyTorch state
	// dict.
	ModelFile = "model.safetensors"
	// OptimizerFile holds the optimizer's scalars (optim.State as JSON).
	OptimizerFile = "optimizer.json"
	// OptimizerTensorsFile holds the optimizer's per-parameter tensors
	// (optim.State.Tensors) in safetensors format.
	OptimizerTensorsFile = "optimizer.safetensors"
	// VocabFile is the vocabulary, a JSON array of strings, when there is
	// one.
	VocabFile = "vocab.json"
)

// manifestFormat and manifestVersion identify the manifest's schema.
const (
	manifestFormat  = "kioku.checkpoint"
	manifestVersion = 1
)

// Optimizer is what a checkpoint needs of an optimizer; *optim.Optimizer
// implements it.
type Optimizer interface {
	State() *optim.State
	LoadState(*optim.State) error
}

// Checkpoint is everything needed to stop training and resume it exactly,
// or to run a trained model: what Save writes and what Load restores into.
//
// On Load, the fields name the objects to restore into: Model, Optimizer
// and the RNGs must already be built (from the configuration, which Open
// gives first when it is not known in advance) and are overwritten in
// place; Config, if not nil, must be a pointer, and receives the saved
// configuration; Step, Epoch, Vocab and Metadata are set from the
// checkpoint.
type Checkpoint struct {
	// Kind names the kind of model ("lstm-lm", "tagger"); Load refuses a
	// checkpoint of another kind.
	Kind string
	// Config is the model configuration: any value encoding/json can
	// marshal, or a json.RawMessage or []byte of JSON. On Load, a pointer
	// to decode into (unknown fields are an error), or nil.
	Config any
	// Model holds the parameters, saved by their nn.NamedParams names,
	// and the buffers, saved by their nn.NamedBuffers names (a model made
	// of sub-modules must implement nn.Buffered for theirs to be saved).
	Model nn.Module
	// Optimizer, if not nil, has its state saved and restored.
	Optimizer Optimizer
	// RNGs are random generators whose states are saved and restored by
	// name ("dropout", "shuffle"). On Load, a nil map restores none;
	// otherwise the names must be those saved.
	RNGs map[string]*tensor.RNG
	// Step and Epoch are the training counters.
	Step, Epoch int
	// Vocab is the vocabulary, if the model has one.
	Vocab []string
	// Metadata is free-form information (command line, data set, …).
	Metadata map[string]string
	// AllowNonFinite, on Load, restores weights and optimizer tensors
	// that hold NaN or ±Inf, which are otherwise refused (for debugging a
	// run that diverged). Save ignores it.
	AllowNonFinite bool
}

// manifest is the content of ManifestFile.
type manifest struct {
	Format   string              `json:"format"`
	Version  int                 `json:"version"`
	Kind     string              `json:"kind"`
	Step     int                 `json:"step"`
	Epoch    int                 `json:"epoch"`
	RNG      map[string][]byte   `json:"rng,omitempty"`
	Metadata map[string]string   `json:"metadata,omitempty"`
	Files    map[string]fileInfo `json:"files"`
}

// fileInfo records a file's size and SHA-256 sum (hex).
type fileInfo struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// checkpointFiles returns the files a manifest may list, and whether each
// is required.
func checkpointFiles() map[string]bool {
	return map[string]bool{ConfigFile: true, ModelFile: true, OptimizerFile: false, OptimizerTensorsFile: false, VocabFile: false}
}

// part is one file to write.
type part struct {
	name  string
	write func(w io.Writer) error
}

// Save writes c to the directory dir atomically: a crash at any moment
// leaves either the previous checkpoint in dir or the new one, never a
// mix, and Open recovers whichever is complete.
//
// The files go into a fresh directory beside dir (dir's name plus
// ".tmp-" and a random suffix), each synced to stable storage, the
// manifest last; that directory is synced, then dir (if it exists) is
// renamed to dir+".old", the new directory is renamed to dir, the parent
// directory is synced, and dir+".old" is removed. Leftovers of an
// interrupted Save are cleaned up by the next Save or Open. Only one
// process may save to a given dir at a time.
func Save(dir string, c *Checkpoint) error { return save(dir, c, nil) }

// crashHook, in tests, is called at each stage of save; a non-nil error
// stops save there as if the process had died: nothing is cleaned up. An
// error wrapping errInjected is instead an ordinary failure, which save
// cleans up after.
type crashHook func(stage string) error

// errInjected marks a failure injected by a test's crashHook.
var errInjected = errors.New("injected failure")

func save(dir string, c *Checkpoint, hook crashHook) (err error) {
	target, err := checkpointPath(dir)
	if err != nil {
		return err
	}
	man, parts, err := encodeCheckpoint(c)
	if err != nil {
		return err
	}
	if err := recoverDir(target); err != nil {
		return err
	}
	parent, base := filepath.Dir(target), filepath.Base(target)
	tmp, err := os.MkdirTemp(parent, base+".tmp-")
	if err != nil {
		return fmt.Errorf("modelio: save checkpoint: %w", err)
	}
	old := target + ".old"
	crashed, hadOld := false, false
	stage := func(name string) error {
		if hook == nil {
			return nil
		}
		if err := hook(name); err != nil {
			crashed = !errors.Is(err, errInjected)
			return err
		}
		return nil
	}
	defer func() {
		if err == nil || crashed {
			return
		}
		os.RemoveAll(tmp)
		if _, terr := os.Lstat(target); hadOld && errors.Is(terr, fs.ErrNotExist) {
			os.Rename(old, target) // put the previous checkpoint back
		}
	}()
	if err := stage("mkdir"); err != nil {
		return err
	}
	for _, p := range parts {
		info, err := writePart(filepath.Join(tmp, p.name), p.write)
		if err != nil {
			return fmt.Errorf("modelio: save checkpoint: %w", err)
		}
		man.Files[p.name] = info
		if err := stage("write " + p.name); err != nil {
			return err
		}
	}
	manBytes, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return fmt.Errorf("modelio: save checkpoint: %w", err)
	}
	if err := atomicfile.CreateSynced(filepath.Join(tmp, ManifestFile), 0o644, func(w io.Writer) error {
		_, err := w.Write(append(manBytes, '\n'))
		return err
	}); err != nil {
		return fmt.Errorf("modelio: save checkpoint: %w", err)
	}
	if err := stage("write " + ManifestFile); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("modelio: save checkpoint: %w", err)
	}
	if err := atomicfile.SyncDir(tmp); err != nil {
		return fmt.Errorf("modelio: save checkpoint: %w", err)
	}
	if err := stage("sync"); err != nil {
		return err
	}
	if _, err := os.Lstat(target); err == nil {
		if err := os.Rename(target, old); err != nil {
			return fmt.Errorf("modelio: save checkpoint: %w", err)
		}
		hadOld = true
		if err := atomicfile.SyncDir(parent); err != nil {
			return fmt.Errorf("modelio: save checkpoint: %w", err)
		}
		if err := stage("rename old"); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, target); err != nil {
		return fmt.Errorf("modelio: save checkpoint: %w", err)
	}
	if err := atomicfile.SyncDir(parent); err != nil {
		return fmt.Errorf("modelio: save checkpoint: %w", err)
	}
	if err := stage("rename new"); err != nil {
		return err
	}
	if hadOld {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("modelio: save checkpoint: remove previous checkpoint: %w", err)
		}
		if err := atomicfile.SyncDir(parent); err != nil {
			return fmt.Errorf("modelio: save checkpoint: %w", err)
		}
		if err := stage("remove old"); err != nil {
			return err
		}
	}
	return nil
}

// checkpointPath cleans dir and checks that it names a directory entry.
func checkpointPath(dir string) (string, error) {
	target := filepath.Clean(dir)
	switch filepath.Base(target) {
	case ".", "..", string(filepath.Separator):
		return "", fmt.Errorf("modelio: checkpoint path %q must end in a directory name", dir)
	}
	return target, nil
}

// recoverDir finishes or undoes an interrupted Save of target: it removes
// temporary directories, and either removes target+".old" (when target
// exists) or renames it back to target (when a crash came between the two
// renames).
func recoverDir(target string) error {
	parent, base := filepath.Dir(target), filepath.Base(target)
	entries, err := os.ReadDir(parent)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("modelio: recover checkpoint: %w", err)
	}
	changed := false
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), base+".tmp-") {
			if err := os.RemoveAll(filepath.Join(parent, e.Name())); err != nil {
				return fmt.Errorf("modelio: recover checkpoint: remove unfinished save: %w", err)
			}
			changed = true
		}
	}
	old := target + ".old"
	if _, err := os.Lstat(old); err == nil {
		_, terr := os.Lstat(target)
		switch {
		case terr == nil:
			err = os.RemoveAll(old)
		case errors.Is(terr, fs.ErrNotExist):
			err = os.Rename(old, target)
		default:
			err = terr
		}
		if err != nil {
			return fmt.Errorf("modelio: recover checkpoint: %w", err)
		}
		changed = true
	}
	if changed {
		return atomicfile.SyncDir(parent)
	}
	return nil
}

// writePart creates name with the output of write, synced, and returns
// its size and checksum.
func writePart(name string, write func(w io.Writer) error) (fileInfo, error) {
	h := sha256.New()
	cw := &countingWriter{}
	err := atomicfile.CreateSynced(name, 0o644, func(w io.Writer) error {
		cw.w = io.MultiWriter(w, h)
		return write(cw)
	})
	return fileInfo{Size: cw.n, SHA256: hex.EncodeToString(h.Sum(nil))}, err
}

type countingWriter struct {
	w io.Writer
	n int64
}

// Write writes p to the underlying writer and counts the bytes.
func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// encodeCheckpoint checks c and prepares its manifest (without the file
// list) and files.
func encodeCheckpoint(c *Checkpoint) (*manifest, []part, error) {
	switch {
	case c == nil:
		return nil, nil, errors.New("modelio: Save(nil checkpoint)")
	case c.Model == nil:
		return nil, nil, errors.New("modelio: checkpoint has no model")
	case c.Step < 0 || c.Epoch < 0:
		return nil, nil, fmt.Errorf("modelio: checkpoint step %d, epoch %d; want ≥ 0", c.Step, c.Epoch)
	case !utf8.ValidString(c.Kind):
		return nil, nil, fmt.Errorf("modelio: checkpoint kind %q is not valid UTF-8", c.Kind)
	}
	man := &manifest{Format: manifestFormat, Version: manifestVersion, Kind: c.Kind, Step: c.Step, Epoch: c.Epoch, Files: map[string]fileInfo{}}
	for k, v := range c.Metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, nil, fmt.Errorf("modelio: checkpoint metadata %q is not valid UTF-8", k)
		}
	}
	if len(c.Metadata) > 0 {
		man.Metadata = maps.Clone(c.Metadata)
	}
	for _, name := range slices.Sorted(maps.Keys(c.RNGs)) {
		g := c.RNGs[name]
		if name == "" || g == nil {
			return nil, nil, fmt.Errorf("modelio: checkpoint RNG %q is nil or unnamed", name)
		}
		b, err := g.MarshalBinary()
		if err != nil {
			return nil, nil, fmt.Errorf("modelio: checkpoint RNG %q: %w", name, err)
		}
		if man.RNG == nil {
			man.RNG = map[string][]byte{}
		}
		man.RNG[name] = b
	}
	cfg, err := encodeConfig(c.Config)
	if err != nil {
		return nil, nil, err
	}
	weights, err := StateDict(c.Model, "")
	if err != nil {
		return nil, nil, err
	}
	parts := []part{
		{ConfigFile, writeBytes(cfg)},
		{ModelFile, func(w io.Writer) error { return safetensors.Write(w, weights, map[string]string{"format": "pt"}) }},
	}
	if c.Optimizer != nil {
		st := c.Optimizer.State()
		if st == nil {
			return nil, nil, errors.New("modelio: the optimizer returned a nil State")
		}
		scalars, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return nil, nil, fmt.Errorf("modelio: optimizer state: %w", err)
		}
		tensors := make(map[string]*safetensors.Tensor, len(st.Tensors))
		for name, t := range st.Tensors {
			if t == nil {
				return nil, nil, fmt.Errorf("modelio: optimizer state tensor %q is nil", name)
			}
			tensors[name] = safetensors.FromTensor(t)
		}
		parts = append(parts,
			part{OptimizerFile, writeBytes(append(scalars, '\n'))},
			part{OptimizerTensorsFile, func(w io.Writer) error { return safetensors.Write(w, tensors, nil) }})
	}
	if c.Vocab != nil {
		for i, s := range c.Vocab {
			if !utf8.ValidString(s) {
				return nil, nil, fmt.Errorf("modelio: vocabulary entry %d (%q) is not valid UTF-8", i, s)
			}
		}
		v, err := json.Marshal(c.Vocab)
		if err != nil {
			return nil, nil, fmt.Errorf("modelio: vocabulary: %w", err)
		}
		parts = append(parts, part{VocabFile, writeBytes(append(v, '\n'))})
	}
	return man, parts, nil
}

func writeBytes(b []byte) func(w io.Writer) error {
	return func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	}
}

// encodeConfig returns the JSON of a configuration.
func encodeConfig(cfg any) ([]byte, error) {
	var b []byte
	switch v := cfg.(type) {
	case nil:
		return []byte("null\n"), nil
	case json.RawMessage:
		b = v
	case []byte:
		b = v
	default:
		var err error
		if b, err = json.MarshalIndent(cfg, "", "  "); err != nil {
			return nil, fmt.Errorf("modelio: checkpoint config: %w", err)
		}
		return append(b, '\n'), nil
	}
	if !json.Valid(b) {
		return nil, errors.New("modelio: checkpoint config is not valid JSON")
	}
	return b, nil
}

// Snapshot is a checkpoint read from disk and verified, not yet restored
// into objects. Its accessors give what is needed to build the model
// before Restore.
type Snapshot struct {
	dir        string
	man        manifest
	config     []byte
	weights    *safetensors.File
	optimizer  *optim.State
	optTensors *safetensors.File
	vocab      []string
}

// Open reads the checkpoint in dir, first recovering from an interrupted
// Save (see Save), and verifies it: the manifest's format and version,
// every file's presence, size and SHA-256 sum, and every file's syntax.
func Open(dir string) (*Snapshot, error) {
	target, err := checkpointPath(dir)
	if err != nil {
		return nil, err
	}
	if err := recoverDir(target); err != nil {
		return nil, err
	}
	s := &Snapshot{dir: target}
	fail := func(format string, args ...any) (*Snapshot, error) {
		return nil, fmt.Errorf("modelio: checkpoint %s: %s", target, fmt.Sprintf(format, args...))
	}
	if err := s.readManifest(); err != nil {
		return nil, err
	}
	m := &s.man
	switch {
	case m.Format != manifestFormat:
		return fail("%s: format %q, want %q", ManifestFile, m.Format, manifestFormat)
	case m.Version > manifestVersion:
		return fail("%s: version %d is newer than this kioku reads (%d)", ManifestFile, m.Version, manifestVersion)
	case m.Version < 1:
		return fail("%s: version %d", ManifestFile, m.Version)
	case m.Step < 0 || m.Epoch < 0:
		return fail("%s: step %d, epoch %d", ManifestFile, m.Step, m.Epoch)
	}
	knownFiles := checkpointFiles()
	for _, name := range slices.Sorted(maps.Keys(m.Files)) {
		if _, ok := knownFiles[name]; !ok {
			return fail("%s lists unknown file %q", ManifestFile, name)
		}
		if lim := fileLimit(name); m.Files[name].Size < 0 || m.Files[name].Size > lim {
			return fail("%s gives %s a size of %d bytes; the limit is %d", ManifestFile, name, m.Files[name].Size, lim)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(knownFiles)) {
		if _, ok := m.Files[name]; knownFiles[name] && !ok {
			return fail("%s does not list required file %s", ManifestFile, name)
		}
	}
	_, hasScalars := m.Files[OptimizerFile]
	if _, hasTensors := m.Files[OptimizerTensorsFile]; hasScalars != hasTensors {
		return fail("%s lists only one of %s and %s", ManifestFile, OptimizerFile, OptimizerTensorsFile)
	}
	for name, st := range m.RNG {
		if err := new(tensor.RNG).UnmarshalBinary(st); err != nil {
			return fail("RNG %q: %v", name, err)
		}
	}
	// Every file is opened, and its type and size checked against the
	// manifest, before any is read: nothing is allocated for a file that
	// is not what the manifest says.
	names := slices.Sorted(maps.Keys(m.Files))
	handles := make(map[string]*os.File, len(names))
	defer func() {
		for _, f := range handles {
			f.Close()
		}
	}()
	for _, name := range names {
		info := m.Files[name]
		f, size, err := boundedfile.Open(filepath.Join(target, name), -1)
		if err != nil {
			return nil, fmt.Errorf("modelio: checkpoint %s: %w", target, err)
		}
		handles[name] = f
		if size != info.Size {
			return fail("%s: size or SHA-256 differs from the manifest (damaged or edited file): %d bytes, the manifest says %d", name, size, info.Size)
		}
	}
	files := map[string][]byte{}
	for _, name := range names {
		info := m.Files[name]
		h := sha256.New()
		r := io.TeeReader(handles[name], h)
		switch name {
		case ModelFile, OptimizerTensorsFile:
			// The header is checked against the size before the data
			// is read.
			st, err := safetensors.ReadSized(r, info.Size)
			if err != nil {
				return fail("%s: %v", name, err)
			}
			if name == ModelFile {
				s.weights = st
			} else {
				s.optTensors = st
			}
		default:
			b, err := boundedfile.ReadAll(r, name, info.Size)
			if err != nil {
				return fail("%v", err)
			}
			files[name] = b
		}
		if hex.EncodeToString(h.Sum(nil)) != info.SHA256 {
			return fail("%s: size or SHA-256 differs from the manifest (damaged or edited file)", name)
		}
	}
	s.config = files[ConfigFile]
	if !json.Valid(s.config) {
		return fail("%s is not valid JSON", ConfigFile)
	}
	if b, ok := files[OptimizerFile]; ok {
		s.optimizer = &optim.State{}
		if err := decodeStrict(b, s.optimizer); err != nil {
			return fail("%s: %v", OptimizerFile, err)
		}
	}
	if b, ok := files[VocabFile]; ok {
		if err := decodeStrict(b, &s.vocab); err != nil {
			return fail("%s: %v", VocabFile, err)
		}
		if s.vocab == nil {
			s.vocab = []string{}
		}
	}
	return s, nil
}

// Limits on the sizes of a checkpoint's files, checked before they are
// read. The tensor files have none but their size on disk (which the
// manifest must give exactly, and which their headers must fit).
const (
	// MaxManifestSize is the largest ManifestFile read, in bytes. It holds
	// the RNG states and the metadata (the carried recurrent state of a
	// language model: layers × batch × hidden × 2 float32s, base64).
	MaxManifestSize = 256 << 20
	// MaxConfigSize is the largest ConfigFile read (seq2seq models keep
	// their vocabularies there).
	MaxConfigSize = 256 << 20
	// MaxOptimizerSize is the largest OptimizerFile read.
	MaxOptimizerSize = 64 << 20
	// MaxVocabSize is the largest VocabFile read.
	MaxVocabSize = 256 << 20
)

// fileLimit returns the largest size of a checkpoint file.
func fileLimit(name string) int64 {
	switch name {
	case ConfigFile:
		return MaxConfigSize
	case OptimizerFile:
		return MaxOptimizerSize
	case VocabFile:
		return MaxVocabSize
	}
	return math.MaxInt64
}

// readManifest reads and decodes the manifest, a regular file of at most
// MaxManifestSize bytes, decoding as it reads so that a file that is not
// JSON is refused after its first bytes.
func (s *Snapshot) readManifest() error {
	name := filepath.Join(s.dir, ManifestFile)
	f, size, err := boundedfile.Open(name, MaxManifestSize)
	if err != nil {
		return fmt.Errorf("modelio: open checkpoint: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(io.LimitReader(f, size))
	dec.DisallowUnknownFields()
	err = dec.Decode(&s.man)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			err = errors.New("data after the JSON value")
		}
	}
	if err != nil {
		return fmt.Errorf("modelio: checkpoint %s: %s: %v", s.dir, ManifestFile, err)
	}
	return nil
}

// decodeStrict decodes one JSON value into v, refusing unknown fields and
// trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// Dir returns the checkpoint's directory.
func (s *Snapshot) Dir() string { return s.dir }

// Kind returns the model kind.
func (s *Snapshot) Kind() string { return s.man.Kind }

// Step returns the saved step counter.
func (s *Snapshot) Step() int { return s.man.Step }

// Epoch returns the saved epoch counter.
func (s *Snapshot) Epoch() int { return s.man.Epoch }

// Vocab returns a copy of the vocabulary, or nil if there is none.
func (s *Snapshot) Vocab() []string { return slices.Clone(s.vocab) }

// Metadata returns a copy of the metadata.
func (s *Snapshot) Metadata() map[string]string { return maps.Clone(s.man.Metadata) }

// Config returns the configuration's JSON.
func (s *Snapshot) Config() []byte { return slices.Clone(s.config) }

// DecodeConfig decodes the configuration into v, refusing fields v does
// not have.
func (s *Snapshot) DecodeConfig(v any) error {
	if err := decodeStrict(s.config, v); err != nil {
		return fmt.Errorf("modelio: checkpoint %s: %s: %w", s.dir, ConfigFile, err)
	}
	return nil
}

// Weights returns the parameters and buffers as read from ModelFile, for loading
// into a model by other means (LoadStateDict with a prefix, say).
func (s *Snapshot) Weights() *safetensors.File { return s.weights }

// OptimizerTensors returns the optimizer's tensors as read from
// OptimizerTensorsFile, or nil if the checkpoint has no optimizer state.
func (s *Snapshot) OptimizerTensors() *safetensors.File { return s.optTensors }

// HasOptimizer reports whether the checkpoint holds an optimizer state.
func (s *Snapshot) HasOptimizer() bool { return s.optimizer != nil }

// RNGNames returns the names of the saved RNG states, sorted.
func (s *Snapshot) RNGNames() []string { return slices.Sorted(maps.Keys(s.man.RNG)) }

// CheckpointError lists every way a checkpoint does not fit the objects
// it is being restored into.
type CheckpointError struct {
	// Dir is the checkpoint directory.
	Dir string
	// Problems describes each difference, one per entry.
	Problems []string
}

// Error lists the problems on one line.
func (e *CheckpointError) Error() string {
	return fmt.Sprintf("modelio: checkpoint %s does not fit: %s", e.Dir, strings.Join(e.Problems, "; "))
}

// Load opens the checkpoint in dir and restores it into c (see Open and
// Snapshot.Restore).
func Load(dir string, c *Checkpoint) error {
	s, err := Open(dir)
	if err != nil {
		return err
	}
	return s.Restore(c)
}

// Restore checks the snapshot against c and then restores it into c: the
// kind must equal c.Kind; the configuration must decode into c.Config
// (when not nil); the weights must match c.Model's parameters (when not
// nil) exactly in names, shapes and element types, and its buffers
// (nn.NamedBuffers) in names and element types, each buffer accepting its
// tensor's shape and values — except that a checkpoint holding none of
// the model's buffers (written before checkpoints held buffers) leaves
// them as they are; the optimizer state (when c.Optimizer
// is not nil) must be of the same kind over the same parameters; the RNG
// names (when c.RNGs is not nil) must be those saved; and, unless
// c.AllowNonFinite, no weight, buffer or optimizer tensor may hold NaN or
// ±Inf (the problem names the tensor and its first such element). If
// anything differs, Restore returns a *CheckpointError listing every
// problem and changes nothing.
func (s *Snapshot) Restore(c *Checkpoint) error {
	if c == nil {
		return errors.New("modelio: Restore(nil checkpoint)")
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.Kind != s.man.Kind {
		add("kind is %q, want %q", s.man.Kind, c.Kind)
	}
	// The configuration, decoded into a fresh value set on success.
	var cfgPtr, cfgNew reflect.Value
	if c.Config != nil {
		cfgPtr = reflect.ValueOf(c.Config)
		if cfgPtr.Kind() != reflect.Pointer || cfgPtr.IsNil() {
			return fmt.Errorf("modelio: Restore needs a non-nil pointer in Config, not %T", c.Config)
		}
		cfgNew = reflect.New(cfgPtr.Elem().Type())
		if err := decodeStrict(s.config, cfgNew.Interface()); err != nil {
			add("%s: %v", ConfigFile, err)
		}
	}
	// The weights and buffers. The buffers are set here, as only they can
	// check their tensors, and put back if anything does not fit.
	var names []string
	var vars []*autograd.Variable
	bs := &bufferSet{}
	if c.Model != nil {
		var err error
		if names, vars, err = namedParams(c.Model); err != nil {
			return err
		}
		bnames, bufs, err := namedBuffers(c.Model, names)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(bnames, func(n string) bool { return s.weights.Tensors[n] != nil }) {
			// Saved before checkpoints held buffers (or by a model
			// without): the buffers stay as they are.
			bnames, bufs = nil, nil
		}
		opts := LoadOptions{ExactDType: true}
		bs = setBuffers(bnames, bufs, s.weights.Tensors, "", opts)
		if e := matchStateDict(names, vars, bnames, s.weights.Tensors, "", opts).merge(bs.mismatched); e != nil {
			add("model: %s", e.details())
		}
		if !c.AllowNonFinite {
			for _, name := range append(slices.Clone(names), bnames...) {
				if t := s.weights.Tensors[name]; t != nil {
					if nf := checkFinite("", name, t); nf != nil {
						add("%s: %s", ModelFile, nf.describe())
					}
				}
			}
		}
	}
	// The optimizer.
	var opt *optim.State
	if c.Optimizer != nil {
		if s.optimizer == nil {
			add("the checkpoint has no optimizer state")
		} else {
			var ps []string
			opt, ps = s.optimizerState(c.Optimizer.State())
			for _, p := range ps {
				add("optimizer: %s", p)
			}
			if opt != nil && !c.AllowNonFinite {
				for _, name := range slices.Sorted(maps.Keys(opt.Tensors)) {
					if nf := checkFinite("", name, s.optTensors.Tensors[name]); nf != nil {
						add("%s: %s", OptimizerTensorsFile, nf.describe())
					}
				}
			}
		}
	}
	// The RNGs.
	if c.RNGs != nil {
		for _, name := range slices.Sorted(maps.Keys(c.RNGs)) {
			if _, ok := s.man.RNG[name]; !ok {
				add("no state for RNG %q", name)
			} else if c.RNGs[name] == nil {
				add("RNG %q is nil", name)
			}
		}
		for _, name := range s.RNGNames() {
			if _, ok := c.RNGs[name]; !ok {
				add("unexpected state for RNG %q", name)
			}
		}
	}
	if len(problems) > 0 {
		if err := bs.undo(); err != nil {
			return err
		}
		return &CheckpointError{Dir: s.dir, Problems: problems}
	}

	// Everything checked: apply, the optimizer first as it re-checks.
	if opt != nil {
		if err := c.Optimizer.LoadState(opt); err != nil {
			bs.undo()
			return fmt.Errorf("modelio: checkpoint %s: %w", s.dir, err)
		}
	}
	for i, name := range names {
		if err := copyInto(vars[i].Data, s.weights.Tensors[name]); err != nil {
			return fmt.Errorf("modelio: checkpoint %s: tensor %q: %w", s.dir, name, err)
		}
	}
	if cfgPtr.IsValid() {
		cfgPtr.Elem().Set(cfgNew.Elem())
	}
	for name, g := range c.RNGs {
		if err := g.UnmarshalBinary(s.man.RNG[name]); err != nil {
			return fmt.Errorf("modelio: checkpoint %s: RNG %q: %w", s.dir, name, err)
		}
	}
	c.Step, c.Epoch = s.man.Step, s.man.Epoch
	c.Vocab = slices.Clone(s.vocab)
	c.Metadata = maps.Clone(s.man.Metadata)
	return nil
}

// optimizerState compares the saved optimizer state with cur, the state
// of the optimizer being restored into, and returns the saved state with
// its tensors, or the problems found.
func (s *Snapshot) optimizerState(cur *optim.State) (*optim.State, []string) {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	saved := s.optimizer
	if cur == nil {
		return nil, []string{"the optimizer returned a nil State"}
	}
	if saved.Kind != cur.Kind {
		// Other tensors would follow from the other kind: say no more.
		return nil, []string{fmt.Sprintf("kind is %q, want %q", saved.Kind, cur.Kind)}
	}
	var missing, unexpected []string
	for name := range cur.ParamSteps {
		if _, ok := saved.ParamSteps[name]; !ok {
			missing = append(missing, name)
		}
	}
	for name := range saved.ParamSteps {
		if _, ok := cur.ParamSteps[name]; !ok {
			unexpected = append(unexpected, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		add("no step counts for parameters %s", strings.Join(missing, ", "))
	}
	if len(unexpected) > 0 {
		slices.Sort(unexpected)
		add("step counts for unknown parameters %s", strings.Join(unexpected, ", "))
	}
	out := *saved
	out.Tensors = make(map[string]*tensor.Tensor, len(cur.Tensors))
	e := &StateDictError{}
	for _, name := range cur.TensorNames() {
		want := cur.Tensors[name]
		t, ok := s.optTensors.Tensors[name]
		if !ok {
			e.Missing = append(e.Missing, name)
			continue
		}
		if !slices.Equal(t.Shape(), want.Shape()) || !dtypeFits(t.DType(), want.DType(), true) {
			e.Mismatched = append(e.Mismatched, Mismatch{Name: name, FileShape: t.Shape(), FileDType: t.DType(), ModelShape: want.Shape(), ModelDType: want.DType()})
			continue
		}
		kt, err := t.ToTensor()
		if err != nil {
			add("tensor %q: %v", name, err)
			continue
		}
		out.Tensors[name] = kt
	}
	for _, name := range s.optTensors.Names() {
		if _, ok := cur.Tensors[name]; !ok {
			e.Unexpected = append(e.Unexpected, name)
		}
	}
	if len(e.Missing)+len(e.Unexpected)+len(e.Mismatched) > 0 {
		add("tensors: %s", e.details())
	}
	if problems != nil {
		return nil, problems
	}
	return &out, nil
}
