// Package atomicfile writes files and directories so that a crash at any
// moment leaves either the old contents or the new, never a mix: data goes
// to a temporary file beside the target, is flushed to stable storage, and
// is renamed over the target; the directory is then synced so the rename
// itself survives a power loss.
package atomicfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFile writes the output of write to name atomically, with
// permissions perm (not masked by the umask). The temporary file, named
// ".<base>.tmp-*" in the same directory, is removed on failure.
func WriteFile(name string, perm os.FileMode, write func(w io.Writer) error) (err error) {
	dir, base := filepath.Split(name)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return err
	}
	if err = f.Chmod(perm); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, name); err != nil {
		return err
	}
	return SyncDir(dir)
}

// CreateSynced writes the output of write to a new file name (which must
// not exist), flushes it to stable storage and closes it. It is for files
// inside a fresh temporary directory, which is itself synced and renamed
// into place; on failure the partial file is left for the caller to remove
// with the directory.
func CreateSynced(name string, perm os.FileMode, write func(w io.Writer) error) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<16)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// SyncDir flushes a directory's entries (creations, renames, removals) to
// stable storage. File systems and platforms that cannot sync a directory
// are not an error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EBADF) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
