package inventory

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// csvRecords is the reference: encoding/csv as ParseCredentialReport used
// it before the fast path, every record with its line, and the error that
// ends the input (nil at a clean EOF).
func csvRecords(text string) (recs [][]string, lines []int, err error) {
	cr := csv.NewReader(strings.NewReader(text))
	cr.FieldsPerRecord = -1
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return recs, lines, nil
		}
		if err != nil {
			return recs, lines, err
		}
		line, _ := cr.FieldPos(0)
		recs, lines = append(recs, rec), append(lines, line)
	}
}

func fastRecords(text string) (recs [][]string, lines []int, err error) {
	l := reportLines{text: text}
	for {
		rec, line, err := l.next()
		if errors.Is(err, io.EOF) {
			return recs, lines, nil
		}
		if err != nil {
			return recs, lines, err
		}
		recs, lines = append(recs, slices.Clone(rec)), append(lines, line)
	}
}

func checkSameRecords(t *testing.T, text string) {
	t.Helper()
	wantRecs, wantLines, wantErr := csvRecords(text)
	gotRecs, gotLines, gotErr := fastRecords(text)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%q: error %v, encoding/csv %v", text, gotErr, wantErr)
	}
	if !slices.EqualFunc(gotRecs, wantRecs, slices.Equal) || !slices.Equal(gotLines, wantLines) {
		t.Fatalf("%q:\n got %q lines %v\nwant %q lines %v", text, gotRecs, gotLines, wantRecs, wantLines)
	}
}

var reportLinesCases = []string{
	"", "\n", "\r\n", "\r", "a", "a\r", "a\n", "a\r\n", "a\r\r\n", "\r\r\n", "a\rb,c\n",
	"a,b\n\nc,d", "a,b\r\n\r\n\r\nc,d\r\n", ",,\n,", "\"\"", "a,\"b,c\",d\ne,f\n",
	"x\n\"multi\nline\",y\nz\n", "\"unterminated\n\nrest", "a,b\"c\n", "a,\"b\"c\n",
	"h1,h2\r\nuser,\"arn:aws:iam::123456789012:user/a,b\"\r\nnext,row\r\n",
	"a\n\"b\"", "a\n\"b\"\r", "\"a\"\"b\",c\n\"\"\n", "\ufeffuser,arn\n",
}

func TestReportLinesMatchesEncodingCSV(t *testing.T) {
	for _, c := range reportLinesCases {
		checkSameRecords(t, c)
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "report", "*.csv"))
	for _, file := range append(files, filepath.Join("..", "..", "examples", "credential-report.csv")) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		checkSameRecords(t, string(data))
	}
	checkSameRecords(t, string(benchReport(200)))
}

// FuzzReportLines is the differential test of the hand-split fast path:
// on any input it yields the records, line numbers and errors of
// encoding/csv.
func FuzzReportLines(f *testing.F) {
	for _, c := range reportLinesCases {
		f.Add(c)
	}
	f.Add(string(benchReport(3)))
	f.Fuzz(checkSameRecords)
}
