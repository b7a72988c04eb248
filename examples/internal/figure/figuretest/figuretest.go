// Package figuretest checks, in the example programs' tests, the pictures
// the programs write.
package figuretest

import (
	"image/png"
	"os"
	"testing"
)

// PNG checks that the file at path exists and decodes as a PNG image: a
// missing file stops the test, an undecodable one fails it.
func PNG(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("%s: %v", path, err)
	}
}
