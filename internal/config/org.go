package config

import (
	"fmt"
	"path"
	"strings"
)

// Organization is aws.organization: AWS Organizations discovery.
//
//	"organization": {"discover": true, "include": ["prod-*"], "exclude": ["123456789012"]}
type Organization struct {
	// Discover lists the accounts with Organizations ListAccounts (ACTIVE
	// only) instead of (or, for their names, besides) aws.accounts; the
	// scan's --org flag turns it on too.
	Discover bool
	// Include and Exclude are 12-digit account IDs or globs on account
	// names (prod-*); empty Include means every account.
	Include, Exclude []string
}

var organizationKeys = []string{"discover", "include", "exclude"}

// organization reads aws.organization.
func (l *loader) organization(key string, v *jvalue) {
	const f = ConfigFile
	if v.t == jNull || !l.object(f, key, v) {
		return
	}
	o := &l.cfg.AWS.Organization
	for _, m := range v.obj {
		k := joinKey(key, m.key)
		switch m.key {
		case "discover":
			if b, ok := l.boolean(f, k, m.val); ok {
				o.Discover = b
			}
		case "include":
			o.Include = l.patterns(k, m.val)
		case "exclude":
			o.Exclude = l.patterns(k, m.val)
		default:
			l.unknown(f, k, m.key, organizationKeys)
		}
	}
}

// patterns reads a list of account patterns (a JSON list of strings or a
// comma-separated string).
func (l *loader) patterns(key string, v *jvalue) []string {
	const f = ConfigFile
	var raw []string
	switch v.t {
	case jNull:
		return nil
	case jString:
		raw = strings.Split(v.s, ",")
	case jArray:
		for _, e := range v.arr {
			if e.t != jString {
				l.add(f, key, e.String()+" is not a string", `write account IDs or name patterns as strings, e.g. ["123456789012", "prod-*"]`)
				continue
			}
			raw = append(raw, e.s)
		}
	default:
		l.add(f, key, v.String()+" is not a list", `write a list, e.g. ["123456789012", "prod-*"]`)
		return nil
	}
	var out []string
	for _, p := range raw {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			l.add(f, key, fmt.Sprintf("%q is not a valid pattern", p), "fix the brackets, or write the account ID or name as it is")
			continue
		}
		out = append(out, p)
	}
	return out
}
