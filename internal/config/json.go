package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The configuration files are decoded into an ordered tree first, so that
// account order is kept, duplicate keys are caught, and each value can be
// checked (and Hammer's string quirks accepted) with its key path at hand.

type jtype int

const (
	jNull jtype = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

type jvalue struct {
	t   jtype
	b   bool
	n   json.Number
	s   string
	arr []*jvalue
	obj []jmember
}

type jmember struct {
	key string
	val *jvalue
}

// String renders the value for messages: scalars as written in JSON,
// containers by their type.
func (v *jvalue) String() string {
	switch v.t {
	case jNull:
		return "null"
	case jBool:
		return strconv.FormatBool(v.b)
	case jNumber:
		return v.n.String()
	case jString:
		b, _ := json.Marshal(v.s)
		return string(b)
	case jArray:
		return "a list"
	default:
		return "an object"
	}
}

// syntaxError is a JSON decoding failure with its position.
type syntaxError struct {
	line, col int
	msg       string
}

// parseJSON decodes data (one JSON value, nothing after it) into a tree.
func parseJSON(data []byte) (*jvalue, *syntaxError) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseValue(dec)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			off := dec.InputOffset()
			for off < int64(len(data)) && strings.ContainsRune(" \t\r\n", rune(data[off])) {
				off++
			}
			line, col := position(data, off)
			return nil, &syntaxError{line, col, "unexpected data after the top-level value"}
		}
		return v, nil
	}
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		line, col := position(data, se.Offset)
		return nil, &syntaxError{line, col, se.Error()}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		line, col := position(data, int64(len(data)))
		if len(bytes.TrimSpace(data)) == 0 {
			return nil, &syntaxError{line, col, "empty file"}
		}
		return nil, &syntaxError{line, col, "unexpected end of JSON input"}
	default:
		line, col := position(data, dec.InputOffset())
		return nil, &syntaxError{line, col, err.Error()}
	}
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, off int64) (line, col int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(off) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func parseValue(dec *json.Decoder) (*jvalue, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			v := &jvalue{t: jObject}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, ok := kt.(string)
				if !ok {
					return nil, fmt.Errorf("object key is not a string")
				}
				val, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				v.obj = append(v.obj, jmember{key, val})
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return v, nil
		case '[':
			v := &jvalue{t: jArray}
			for dec.More() {
				val, err := parseValue(dec)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, val)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return v, nil
		}
		return nil, fmt.Errorf("unexpected %q", rune(t))
	case bool:
		return &jvalue{t: jBool, b: t}, nil
	case json.Number:
		return &jvalue{t: jNumber, n: t}, nil
	case string:
		return &jvalue{t: jString, s: t}, nil
	case nil:
		return &jvalue{t: jNull}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// joinKey builds a dotted key path for messages.
func joinKey(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}
