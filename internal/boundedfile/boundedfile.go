// Package boundedfile opens and reads files that come from outside
// (checkpoints, weights, training text) so that a hostile file cannot
// make the reader block or allocate without bound: only regular files are
// read (a FIFO, a device such as /dev/zero, a directory or a symlink to
// one of them is refused without blocking), a file larger than the
// caller's limit is refused before anything is read, and no more than the
// size the file had when it was opened is ever read.
package boundedfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// ErrTooLarge is wrapped by the errors of files larger than their limit.
var ErrTooLarge = errors.New("file too large")

// ErrNotRegular is wrapped by the errors of files that are not regular
// files.
var ErrNotRegular = errors.New("not a regular file")

// Open opens name for reading if it is (or a symlink leads to) a regular
// file of at most limit bytes (no limit if limit < 0), and returns it with
// its size. It stats the target before opening it and opens it without
// blocking (O_NONBLOCK, where there is one), then checks again on the open
// file, so that a FIFO swapped in between is refused too.
func Open(name string, limit int64) (*os.File, int64, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, 0, err
	}
	if err := check(name, st, limit); err != nil {
		return nil, 0, err
	}
	f, err := os.OpenFile(name, os.O_RDONLY|nonBlock, 0)
	if err != nil {
		return nil, 0, err
	}
	if st, err = f.Stat(); err == nil {
		err = check(name, st, limit)
	}
	if err == nil {
		err = clearNonBlock(f)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// check refuses what is not a regular file of at most limit bytes.
func check(name string, st fs.FileInfo, limit int64) error {
	if !st.Mode().IsRegular() {
		return &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w (%s)", ErrNotRegular, describe(st.Mode()))}
	}
	if limit >= 0 && st.Size() > limit {
		return &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w: %d bytes, more than the limit of %d", ErrTooLarge, st.Size(), limit)}
	}
	return nil
}

// describe names the type of a file that is not regular.
func describe(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}

// ReadFile reads the whole of name, a regular file of at most limit bytes
// (see Open). It reads no more than the size the file had when opened, and
// reports a file that shrank or grew meanwhile.
func ReadFile(name string, limit int64) ([]byte, error) {
	f, size, err := Open(name, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, name, size)
}

// ReadAll reads exactly size bytes from r, the file name, and checks that
// nothing follows them.
func ReadAll(r io.Reader, name string, size int64) ([]byte, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: shrank while being read", name)
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if err := AtEOF(r, name); err != nil {
		return nil, err
	}
	return b, nil
}

// AtEOF checks that r, the file name, has nothing more to read.
func AtEOF(r io.Reader, name string) error {
	var one [1]byte
	n, err := r.Read(one[:])
	switch {
	case n > 0:
		return fmt.Errorf("%s: grew while being read", name)
	case err == nil || err == io.EOF:
		return nil
	}
	return fmt.Errorf("read %s: %w", name, err)
}
