package output

import (
	"bytes"
	"testing"

	"github.com/keywarden/keywarden/internal/policy"
)

// TestFindingStreamMatchesFindings: batch by batch, in any split (empty
// batches and no batch at all included), the stream writes what Findings
// writes for all the findings at once.
func TestFindingStreamMatchesFindings(t *testing.T) {
	all := findings()
	for _, o := range []Options{{Format: JSON}, {Format: CSV}, {Format: CSV, ShowKeyIDs: true}} {
		for _, batches := range [][][]policy.Finding{
			nil,
			{nil},
			{all},
			{all[:1], nil, all[1:]},
			{all[:1], all[1:2], all[2:], nil},
		} {
			var want, got bytes.Buffer
			var fs []policy.Finding
			for _, b := range batches {
				fs = append(fs, b...)
			}
			if err := Findings(&want, fs, o); err != nil {
				t.Fatal(err)
			}
			s, err := NewFindingStream(&got, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range batches {
				if err := s.Write(b); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				t.Errorf("%s in %d batches:\n got %q\nwant %q", o.Format, len(batches), got.String(), want.String())
			}
		}
	}
	if _, err := NewFindingStream(&bytes.Buffer{}, Options{Format: Table}); err == nil {
		t.Error("a table stream was accepted")
	}
}
