package output

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"

	"github.com/keywarden/keywarden/internal/policy"
)

// FindingStream writes findings as JSON lines or CSV batch by batch (an
// account at a time, as a scan finishes them), through a buffer: the
// output is byte for byte that of Findings with every batch at once, and
// nothing needs to hold every finding.
type FindingStream struct {
	o      Options
	bw     *bufio.Writer
	enc    *json.Encoder
	cw     *csv.Writer
	header bool
	err    error
}

// Streams reports whether findings in this format can be written batch by
// batch (JSON lines and CSV; a table aligns its columns over all rows).
func Streams(f Format) bool { return f == JSON || f == CSV }

// NewFindingStream starts a stream of findings to w in o.Format, which
// must stream (see Streams).
func NewFindingStream(w io.Writer, o Options) (*FindingStream, error) {
	if !Streams(o.Format) {
		return nil, fmt.Errorf("output format %s does not stream", o.Format)
	}
	s := &FindingStream{o: o, bw: bufio.NewWriterSize(w, 64<<10)}
	if o.Format == JSON {
		s.enc = json.NewEncoder(s.bw)
	} else {
		s.cw = csv.NewWriter(s.bw)
	}
	return s, nil
}

// Write writes a batch of findings. After an error, it and Close return
// that error and write nothing more.
func (s *FindingStream) Write(fs []policy.Finding) error {
	if s.err != nil {
		return s.err
	}
	if s.cw != nil {
		s.csvHeader()
		for _, f := range fs {
			_ = s.cw.Write(s.o.findingCSV(f))
		}
		// csv.Writer buffers into bw; its error is bw's.
		s.cw.Flush()
		s.err = s.cw.Error()
		return s.err
	}
	for _, f := range fs {
		if err := s.enc.Encode(s.o.findingRecord(f)); err != nil {
			s.err = err
			return err
		}
	}
	return nil
}

func (s *FindingStream) csvHeader() {
	if !s.header {
		_ = s.cw.Write(findingCSVHeader)
		s.header = true
	}
}

// Close writes what is buffered (and a CSV header when no batch came).
func (s *FindingStream) Close() error {
	if s.err != nil {
		return s.err
	}
	if s.cw != nil {
		s.csvHeader()
		s.cw.Flush()
		if s.err = s.cw.Error(); s.err != nil {
			return s.err
		}
	}
	s.err = s.bw.Flush()
	return s.err
}

// Flush writes what is buffered now.
func (s *FindingStream) Flush() error {
	if s.err != nil {
		return s.err
	}
	if s.cw != nil {
		s.cw.Flush()
		if s.err = s.cw.Error(); s.err != nil {
			return s.err
		}
	}
	s.err = s.bw.Flush()
	return s.err
}
