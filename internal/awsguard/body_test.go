package awsguard

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// The watch finds its needle wherever the reads split the body.
func TestWatchAcrossReads(t *testing.T) {
	const needle = "<IsTruncated>"
	for _, body := range []string{
		"<R><Users/><IsTruncated>false</IsTruncated></R>",
		"<IsTruncated>",
		"<<IsTruncated>",
		"xx<IsTrunc<IsTruncated>",
	} {
		for _, split := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader, func(r io.Reader) io.Reader { return r }} {
			w := &watch{r: split(strings.NewReader(body)), needle: []byte(needle)}
			if _, err := io.Copy(io.Discard, w); err != nil {
				t.Fatal(err)
			}
			if !w.found {
				t.Errorf("%q: needle not found", body)
			}
		}
	}
	for _, body := range []string{"", "<IsTruncate", "<Result></Result>", "<IsTruncated/>"} {
		for _, split := range []func(io.Reader) io.Reader{iotest.OneByteReader, iotest.HalfReader} {
			w := &watch{r: split(strings.NewReader(body)), needle: []byte(needle)}
			_, _ = io.Copy(io.Discard, w)
			if w.found {
				t.Errorf("%q: needle found", body)
			}
		}
	}
}
