package inventory

import (
	"encoding/csv"
	"errors"
	"io"
	"strings"
)

// reportLines splits a credential report into records exactly as
// encoding/csv (Comma ',', FieldsPerRecord -1, no LazyQuotes) does, but
// without copying: the fields are substrings of the report text.
//
// IAM writes the report with encoding/csv-style quoting: a field is quoted
// only when it holds a comma or a double quote. Of the report's fields only
// IAM paths and user names can hold either (user names allow `+=,.@_-`,
// paths any printable ASCII from ! to ~): never a space, CR or newline, so
// a record is always one line. A line without a double quote is therefore
// split by hand on commas; a line with one (rare: a comma in a user name or
// path) is handed to encoding/csv, which reads that one record, wherever it
// ends, with its own quoting rules and errors. The differential fuzz test
// FuzzReportLines holds the two to the same records, line numbers and
// errors on any input.
//
// Lines end in \n or \r\n; a \r before EOF is dropped; empty lines are
// skipped; line numbers count every line, as encoding/csv's do.
type reportLines struct {
	text string
	off  int // byte offset of the next line
	line int // lines consumed
	rec  []string
}

// next returns the next record and the line it starts on, or io.EOF
// (unwrapped) at the end. The record is reused by the next call; its
// fields are substrings of the text.
func (l *reportLines) next() ([]string, int, error) {
	for l.off < len(l.text) {
		rest := l.text[l.off:]
		ln, adv := rest, len(rest)
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			ln, adv = rest[:i], i+1
		}
		if n := len(ln); n > 0 && ln[n-1] == '\r' {
			ln = ln[:n-1]
		}
		if strings.IndexByte(ln, '"') >= 0 {
			return l.quoted()
		}
		l.off += adv
		l.line++
		if ln == "" {
			continue
		}
		rec := l.rec[:0]
		for {
			i := strings.IndexByte(ln, ',')
			if i < 0 {
				break
			}
			rec = append(rec, ln[:i])
			ln = ln[i+1:]
		}
		l.rec = append(rec, ln)
		return l.rec, l.line, nil
	}
	return nil, 0, io.EOF
}

// quoted reads one record with encoding/csv from the current offset and
// moves past it. Line numbers in its errors are made absolute.
func (l *reportLines) quoted() ([]string, int, error) {
	base := l.line // lines before the record
	cr := csv.NewReader(strings.NewReader(l.text[l.off:]))
	cr.FieldsPerRecord = -1
	rec, err := cr.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			pe.StartLine += base
			pe.Line += base
		}
		// A malformed record ends the parse: nothing reads past it.
		l.off = len(l.text)
		return nil, 0, err
	}
	start, _ := cr.FieldPos(0)
	used := int(cr.InputOffset())
	l.line += strings.Count(l.text[l.off:l.off+used], "\n")
	if l.off+used == len(l.text) && used > 0 && l.text[len(l.text)-1] != '\n' {
		l.line++ // the last line, without a newline
	}
	l.off += used
	l.rec = append(l.rec[:0], rec...)
	return l.rec, base + start, nil
}
