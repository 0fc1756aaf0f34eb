package output

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// An output file (--output) is written beside its target and renamed into
// place by CommitFile, so that a failed command never leaves a half-written
// report. Only a regular file is ever replaced: a target that exists and is
// not one (a directory, a device such as /dev/null, a named pipe, a socket)
// is refused, and a rename never turns a device node into a file. A file
// written over keeps its permission bits; a new one gets 0666 less the
// umask, as a shell redirection would. A symbolic link to a regular file
// stays a link: the file it points to is replaced.

// CreateFile starts writing the output file path: it returns the
// temporary file to write, to be given to CommitFile or AbortFile.
func CreateFile(path string) (*os.File, error) {
	target, old, err := outputTarget(path)
	if err != nil {
		return nil, err
	}
	perm := fs.FileMode(0o666) // less the umask, applied by open(2)
	if old != nil {
		perm = 0o600 // until it has the old file's mode
	}
	tmp, err := createTemp(filepath.Dir(target), "."+filepath.Base(target)+".", perm)
	if err != nil {
		return nil, fmt.Errorf("output file %s: %w", path, err)
	}
	if old != nil {
		// Chmod is not subject to the umask: 0600 stays 0600, 0644 0644.
		if err := tmp.Chmod(old.Mode().Perm()); err != nil {
			AbortFile(tmp)
			return nil, fmt.Errorf("output file %s: keep the mode of the existing file: %w", path, err)
		}
	}
	return tmp, nil
}

// CommitFile closes tmp (from CreateFile(path)) and renames it onto path's
// target, checked again: it may have been replaced while the command ran.
func CommitFile(tmp *os.File, path string) error {
	if err := tmp.Sync(); err != nil {
		AbortFile(tmp)
		return fmt.Errorf("output file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("output file %s: %w", path, err)
	}
	target, _, err := outputTarget(path)
	if err == nil && filepath.Dir(target) != filepath.Dir(tmp.Name()) {
		err = fmt.Errorf("output file %s now points to another directory (%s): not replaced", path, target)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("output file %s: %w", path, err)
	}
	return nil
}

// AbortFile closes and removes tmp; the target is left as it was.
func AbortFile(tmp *os.File) {
	tmp.Close()
	os.Remove(tmp.Name())
}

// outputTarget resolves path to the file to replace and its current state
// (nil when there is none), refusing what is not a regular file.
func outputTarget(path string) (string, fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return path, nil, nil
	case err != nil:
		return "", nil, fmt.Errorf("output file %s: %w", path, err)
	}
	target := path
	if fi.Mode()&fs.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(path); err != nil {
			return "", nil, fmt.Errorf("output file %s: a symbolic link that does not resolve (%w): name the file itself", path, err)
		}
		if fi, err = os.Lstat(target); err != nil {
			return "", nil, fmt.Errorf("output file %s: %w", path, err)
		}
	}
	if !fi.Mode().IsRegular() {
		return "", nil, fmt.Errorf("output file %s is %s, not a regular file: keywarden writes reports only to regular files (new or replaced); name a file, or drop --output to write to stdout", path, fileType(fi.Mode()))
	}
	return target, fi, nil
}

func fileType(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	}
	return "of type " + m.Type().String()
}

// createTemp is os.CreateTemp with a chosen permission (os.CreateTemp's is
// 0600, whatever the umask).
func createTemp(dir, prefix string, perm fs.FileMode) (*os.File, error) {
	for range 100 {
		name := filepath.Join(dir, prefix+rand.Text()[:12])
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, fmt.Errorf("no unused temporary name in %s", dir)
}
