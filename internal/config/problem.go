package config

import (
	"fmt"
	"strings"
)

// Problem is one thing wrong with the configuration: the file, the key (a
// dotted path, empty for the whole file), what is wrong and how to fix it.
type Problem struct {
	// File is the base name: config.json, whitelist.json or
	// ticket_owners.json.
	File string
	// Line and Col locate JSON syntax errors (1-based); 0 otherwise.
	Line, Col int
	// Key is the dotted path of the offending key, e.g.
	// "user_inactivekeys.inactive_criteria_days".
	Key string
	Msg string
	Fix string
}

// String renders the problem on one line:
//
//	config.json: user_inactivekeys.inactive_criteria_days: "-5" is negative; set a number of days >= 1
//	config.json:3:5: invalid character '}' looking for beginning of object key string; fix the JSON syntax
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Col)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	if p.Fix != "" {
		b.WriteString("; ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// Problems is the error Load returns when the configuration is invalid: every
// problem found, in file order.
type Problems struct {
	List []Problem
}

// Error joins the problems, one a line.
func (p *Problems) Error() string {
	lines := make([]string, len(p.List))
	for i, x := range p.List {
		lines[i] = x.String()
	}
	return strings.Join(lines, "\n")
}
