package config

import "fmt"

// DefaultMaxRemediationsPerRun is the blast-radius cap when config.json sets
// none.
const DefaultMaxRemediationsPerRun = 10

// remediationKeys are the keys of the top-level "remediation" section.
var remediationKeys = []string{"max_remediations_per_run"}

// Remediation is the top-level "remediation" section (keywarden's own; the
// per-kind switches stay in the kind sections as in Hammer).
type Remediation struct {
	// MaxPerRun is the blast-radius cap: at most this many credentials acted
	// on per account per run; a larger plan is not executed for that
	// account.
	MaxPerRun int
}

func (l *loader) remediation(v *jvalue) {
	const f = ConfigFile
	if !l.object(f, "remediation", v) {
		return
	}
	for _, m := range v.obj {
		key := joinKey("remediation", m.key)
		switch m.key {
		case "max_remediations_per_run":
			n, ok := l.integer(f, key, m.val)
			if !ok {
				continue
			}
			if n < 1 {
				l.add(f, key, fmt.Sprintf("%s is below 1", m.val), `set a cap >= 1; to keep a kind from being remediated, set its "remediation": false`)
				continue
			}
			l.cfg.Remediation.MaxPerRun = n
		default:
			l.unknown(f, key, m.key, remediationKeys)
		}
	}
}
