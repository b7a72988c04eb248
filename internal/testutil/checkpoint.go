package testutil

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// EditCheckpointFile rewrites the file name of the modelio checkpoint in
// dir with edit's result and re-signs the manifest (ResignCheckpoint).
func EditCheckpointFile(t testing.TB, dir, name string, edit func([]byte) []byte) {
	t.Helper()
	p := filepath.Join(dir, name)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, edit(b), 0o644); err != nil {
		t.Fatal(err)
	}
	ResignCheckpoint(t, dir)
}

// EditCheckpointJSON decodes the JSON file name of the checkpoint in dir
// into a generic value, lets edit change it, writes it back and re-signs
// the manifest.
func EditCheckpointJSON(t testing.TB, dir, name string, edit func(v map[string]any)) {
	t.Helper()
	EditCheckpointFile(t, dir, name, func(b []byte) []byte {
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		edit(v)
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return out
	})
}

// ResignCheckpoint rewrites the manifest (checkpoint.json) of the modelio
// checkpoint in dir with the sizes and SHA-256 sums of the files now
// there, as someone who edits a checkpoint would: the manifest guards
// against damage, not against forgery, so the loaders' checks behind it
// must hold on their own.
func ResignCheckpoint(t testing.TB, dir string) {
	t.Helper()
	p := filepath.Join(dir, "checkpoint.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	files, _ := m["files"].(map[string]any)
	for name := range files {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		files[name] = map[string]any{"size": len(data), "sha256": hex.EncodeToString(sum[:])}
	}
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Allocated returns the bytes f allocates on the Go heap (TotalAlloc).
func Allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}
