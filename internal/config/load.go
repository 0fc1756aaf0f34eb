package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
)

// File names inside the configuration folder.
const (
	ConfigFile       = "config.json"        // required
	WhitelistFile    = "whitelist.json"     // optional
	TicketOwnersFile = "ticket_owners.json" // optional
)

// Defaults.
const (
	DefaultRoleName  = "keywarden-audit"
	DefaultStoreType = "sqlite"
	StoreDynamoDB    = "dynamodb"
	DefaultStorePath = "keywarden.db"
)

// IgnoredReason is what `config validate` says of the sections in
// Config.Ignored.
const IgnoredReason = "not handled by keywarden"

// DefaultTableNames are Hammer's ddb.table_name defaults.
var DefaultTableNames = map[policy.Kind]string{
	policy.InactiveKeys:      "hammer-iam-user-keys-inactive",
	policy.KeysRotation:      "hammer-iam-user-keys-rotation",
	policy.InactivePasswords: "hammer-iam-user-passwords-inactive",
}

// ThresholdKey returns the config.json key holding the limit of kind k:
// rotation_criteria_days for user_keysrotation, inactive_criteria_days
// otherwise.
func ThresholdKey(k policy.Kind) string {
	if k == policy.KeysRotation {
		return "rotation_criteria_days"
	}
	return "inactive_criteria_days"
}

// hammerSections are top-level config.json keys of Dow Jones Hammer
// (deployment/configs/config.json on master and dev, every version, and
// hammer/library/config.py) that keywarden ignores. Any other top-level key
// that is not a likely typo of keywarden's sections is ignored too (Hammer
// adds checks over time: dns_takeover, kms_keys_rotation, sqs_encryption,
// trusted_advisor_recommendations…), and listed.
var hammerSections = set(
	"cronjobs", "csv", "api", "credentials", "bu_list",
	"s3_bucket_acl", "secgrp_unrestricted_access", "s3_bucket_policy",
	"cloudtrails", "ebs_unencrypted_volume", "ebs_public_snapshot",
	"rds_public_snapshot", "ec2_public_ami", "sqs_public_access",
	"s3_encryption", "rds_encryption", "redshift_logging",
	"redshift_public_access", "redshift_encryption",
	"ecs_privileged_access", "ecs_logging", "ecs_external_image_source",
	"es_domain_logging", "es_unencrypted_domain", "es_public_access_domain",
	"dns_takeover", "kms_keys_rotation", "sqs_encryption",
	"trusted_advisor_recommendations", "public_ami_issues",
)

// Keys of the "aws" section keywarden uses, and Hammer's others (accepted,
// unused).
var (
	awsKeys = []string{"region", "accounts", "role_name", "role_name_identification",
		"role_name_reporting", "external_id", "organization", "account_concurrency"}
	hammerAWSKeys = []string{"main_account_id", "regions", "ddb_backup", "s3_backup_bucket"}
)

// kindKeys lists the keys of a kind section, threshold key included.
func kindKeys(k policy.Kind) []string {
	return []string{
		"enabled", "ddb.table_name", "topic_name", "accounts",
		"remediation_accounts", "ignore_accounts", ThresholdKey(k),
		"warning_days", "reporting", "remediation",
		"remediation_retention_period",
	}
}

var (
	storeKeys = []string{"type", "path", "region", "endpoint", "table_prefix", "create_tables"}
	ownerKeys = []string{"jira_project", "jira_owner", "jira_parent_ticket", "slack_owner"}
)

// commentKey is accepted anywhere in whitelist.json, as Hammer's sample
// uses it.
const commentKey = "__comment__"

// Load reads dir/config.json (required), dir/whitelist.json and
// dir/ticket_owners.json (optional). When the files are invalid it returns
// a *Problems listing every problem.
func Load(dir string) (*Config, error) {
	cfg, probs, err := Validate(dir)
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return nil, &Problems{List: probs}
	}
	return cfg, nil
}

// Validate reads the files like Load and returns the configuration as far as
// it could be read (nil only when config.json is missing or unreadable JSON)
// with every problem found. The error is for I/O failures other than a
// missing file.
func Validate(dir string) (*Config, []Problem, error) {
	l := &loader{cfg: &Config{
		Dir:         dir,
		AWS:         AWS{RoleName: DefaultRoleName},
		Kinds:       map[policy.Kind]*Kind{},
		Store:       Store{Type: DefaultStoreType, Path: DefaultStorePath},
		Whitelist:   map[policy.Kind]map[string][]string{},
		Remediation: Remediation{MaxPerRun: DefaultMaxRemediationsPerRun},
	}}
	ok := true
	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		l.add(ConfigFile, "", "not found in "+dir, "create it (see examples/config.json) or point --config-dir at the folder holding it")
		ok = false
	case err != nil:
		return nil, nil, err
	default:
		ok = l.config(data)
	}
	for _, f := range []struct {
		name string
		fn   func(*jvalue)
	}{{WhitelistFile, l.whitelist}, {TicketOwnersFile, l.ticketOwners}} {
		data, err := os.ReadFile(filepath.Join(dir, f.name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		if root := l.parse(f.name, data); root != nil {
			f.fn(root)
		}
	}
	if !ok {
		return nil, l.probs, nil
	}
	return l.cfg, l.probs, nil
}

type loader struct {
	cfg   *Config
	probs []Problem
	// known holds aws.accounts IDs.
	known map[string]bool
}

func (l *loader) add(file, key, msg, fix string) {
	l.probs = append(l.probs, Problem{File: file, Key: key, Msg: msg, Fix: fix})
}

// warn records a problem that does not stop a run.
func (l *loader) warn(file, key, msg, fix string) {
	l.cfg.Warnings = append(l.cfg.Warnings, Problem{File: file, Key: key, Msg: msg, Fix: fix})
}

// ignore lists a Hammer key keywarden accepts and does not use.
func (l *loader) ignore(file, key string) {
	l.cfg.IgnoredKeys = append(l.cfg.IgnoredKeys, file+": "+key)
}

func (l *loader) parse(file string, data []byte) *jvalue {
	root, se := parseJSON(data)
	if se != nil {
		l.probs = append(l.probs, Problem{File: file, Line: se.line, Col: se.col, Msg: se.msg, Fix: "fix the JSON syntax"})
		return nil
	}
	if root.t != jObject {
		l.add(file, "", "the top level is "+root.String()+", not an object", "write the settings inside { }")
		return nil
	}
	return root
}

// object checks that v is an object and reports duplicate keys.
func (l *loader) object(file, key string, v *jvalue) bool {
	if v.t != jObject {
		l.add(file, key, v.String()+" is not an object", "write the section's settings inside { }")
		return false
	}
	seen := map[string]bool{}
	for _, m := range v.obj {
		if seen[m.key] {
			l.add(file, joinKey(key, m.key), "duplicate key", "keep only one of them")
		}
		seen[m.key] = true
	}
	return true
}

func (l *loader) unknown(file, key, name string, candidates []string) {
	if s := suggest(name, candidates); s != "" {
		l.add(file, key, "unknown key", fmt.Sprintf("did you mean %q?", s))
		return
	}
	l.add(file, key, "unknown key", "remove it; known keys: "+strings.Join(candidates, ", "))
}

// config reads config.json; false when it could not be parsed at all.
func (l *loader) config(data []byte) bool {
	root := l.parse(ConfigFile, data)
	if root == nil {
		return false
	}
	l.object(ConfigFile, "", root)
	ours := []string{"aws", "store", "remediation"}
	for _, k := range policy.Kinds {
		ours = append(ours, string(k))
	}
	// aws first: the kinds check their accounts against aws.accounts.
	for _, m := range root.obj {
		if m.key == "aws" {
			l.aws(m.val)
		}
	}
	for _, m := range root.obj {
		switch kind := policy.Kind(m.key); {
		case m.key == "aws":
		case m.key == "store":
			l.store(m.val)
		case m.key == "remediation":
			l.remediation(m.val)
		case kind.Valid():
			l.kind(kind, m.val)
		case isNotifySection(m.key):
			l.notifySection(m.key, m.val)
		case !hammerSections[m.key] && suggest(m.key, ours) != "":
			// A misspelt keywarden section would silently disable a check.
			l.add(ConfigFile, m.key, "unknown section", fmt.Sprintf("did you mean %q?", suggest(m.key, ours)))
		default:
			l.cfg.Ignored = append(l.cfg.Ignored, m.key)
		}
	}
	sort.Strings(l.cfg.Ignored)
	return true
}

func (l *loader) aws(v *jvalue) {
	const f = ConfigFile
	if !l.object(f, "aws", v) {
		return
	}
	for _, m := range v.obj {
		key := joinKey("aws", m.key)
		switch m.key {
		case "region":
			if s, ok := l.str(f, key, m.val); ok && l.region(f, key, s) {
				l.cfg.AWS.Region = s
			}
		case "role_name":
			l.nonEmpty(f, key, m.val, &l.cfg.AWS.RoleName)
		case "role_name_identification":
			if s, ok := l.str(f, key, m.val); ok {
				l.cfg.AWS.RoleNameIdentification = strings.TrimSpace(s)
			}
		case "role_name_reporting":
			if s, ok := l.str(f, key, m.val); ok {
				l.cfg.AWS.RoleNameReporting = strings.TrimSpace(s)
			}
		case "external_id":
			if s, ok := l.str(f, key, m.val); ok {
				l.cfg.AWS.ExternalID = s
			}
		case "organization":
			l.organization(key, m.val)
		case "account_concurrency":
			if n, ok := l.integer(f, key, m.val); ok {
				if n < 1 || n > 1000 {
					l.add(f, key, fmt.Sprintf("%d is out of range", n), "write the most IAM calls in flight per account, 1 to 1000 (default 8)")
				} else {
					l.cfg.AWS.AccountConcurrency = n
				}
			}
		case "accounts":
			if m.val.t == jNull || !l.object(f, key, m.val) {
				continue
			}
			l.known = map[string]bool{}
			for _, a := range m.val.obj {
				akey := joinKey(key, a.key)
				name, _ := l.str(f, akey, a.val)
				if !l.accountID(f, key, a.key) {
					continue
				}
				if !l.known[a.key] {
					l.cfg.AWS.Accounts = append(l.cfg.AWS.Accounts, Account{ID: a.key, Name: name})
				}
				l.known[a.key] = true
			}
		default:
			if slices.Contains(hammerAWSKeys, m.key) {
				l.ignore(f, key)
				continue
			}
			l.unknown(f, key, m.key, append(append([]string{}, awsKeys...), hammerAWSKeys...))
		}
	}
}

func (l *loader) store(v *jvalue) {
	const f = ConfigFile
	if !l.object(f, "store", v) {
		return
	}
	for _, m := range v.obj {
		key := joinKey("store", m.key)
		switch m.key {
		case "type":
			s, ok := l.str(f, key, m.val)
			if !ok || s == "" {
				continue
			}
			switch strings.ToLower(s) {
			case "sqlite":
				l.cfg.Store.Type = DefaultStoreType
			case StoreDynamoDB:
				l.cfg.Store.Type = StoreDynamoDB
			default:
				l.add(f, key, m.val.String()+" is not a known store type", `use "sqlite" or "dynamodb"`)
			}
		case "path":
			l.nonEmpty(f, key, m.val, &l.cfg.Store.Path)
		case "region":
			if s, ok := l.str(f, key, m.val); ok && l.region(f, key, s) {
				l.cfg.Store.Region = s
			}
		case "endpoint":
			if s, ok := l.str(f, key, m.val); ok {
				l.cfg.Store.Endpoint = s
			}
		case "table_prefix":
			if s, ok := l.str(f, key, m.val); ok {
				l.cfg.Store.TablePrefix = s
			}
		case "create_tables":
			if b, ok := l.boolean(f, key, m.val); ok {
				l.cfg.Store.CreateTables = b
			}
		default:
			l.unknown(f, key, m.key, storeKeys)
		}
	}
}

func (l *loader) kind(k policy.Kind, v *jvalue) {
	const f = ConfigFile
	sec := string(k)
	if !l.object(f, sec, v) {
		return
	}
	kc := &Kind{Kind: k, Enabled: true, TableName: DefaultTableNames[k]}
	thr := ThresholdKey(k)
	var (
		limitSeen, limitOK, warnOK bool
		warnRaw                    *jvalue
		ignore                     []string
		accountsSet, remSet, ok    bool
	)
	for _, m := range v.obj {
		key := joinKey(sec, m.key)
		switch m.key {
		case "enabled":
			if b, ok := l.boolean(f, key, m.val); ok {
				kc.Enabled = b
			}
		case "reporting":
			if b, ok := l.boolean(f, key, m.val); ok {
				kc.Reporting = b
			}
		case "remediation":
			if b, ok := l.boolean(f, key, m.val); ok {
				kc.Remediation = b
			}
		case "ddb.table_name":
			l.nonEmpty(f, key, m.val, &kc.TableName)
		case "topic_name":
			if s, ok := l.str(f, key, m.val); ok {
				kc.TopicName = s
			}
			l.ignore(f, key)
		case "accounts":
			kc.Accounts, accountsSet = l.accounts(f, key, m.val, true)
		case "remediation_accounts":
			kc.RemediationAccounts, remSet = l.accounts(f, key, m.val, true)
		case "ignore_accounts":
			ignore, _ = l.accounts(f, key, m.val, false)
			kc.IgnoreAccounts = ignore
		case thr:
			if m.val.t == jNull {
				continue
			}
			limitSeen = true
			n, ok := l.days(f, key, m.val, fmt.Sprintf(`set at most %d, or use "enabled": false to switch a check off`, policy.MaxDays))
			switch {
			case !ok:
			case n < 0:
				l.add(f, key, m.val.String()+" is negative", "set a number of days >= 1")
			case n == 0:
				l.add(f, key, m.val.String()+" is zero", "set a number of days >= 1")
			default:
				kc.LimitDays, limitOK = n, true
			}
		case "warning_days":
			n, ok := l.days(f, key, m.val, fmt.Sprintf("set 0 (no warning stage) or a number of days below %s", thr))
			if !ok {
				continue
			}
			if n < 0 {
				l.add(f, key, m.val.String()+" is negative", fmt.Sprintf("set 0 (no warning stage) or a number of days below %s", thr))
				continue
			}
			kc.WarningDays, warnOK, warnRaw = n, true, m.val
		case "remediation_retention_period":
			n, ok := l.days(f, key, m.val, fmt.Sprintf(`set at most %d, or use "remediation": false to switch remediation off`, policy.MaxDays))
			if !ok {
				continue
			}
			if n < 0 {
				l.add(f, key, m.val.String()+" is negative", "set 0 (remediate at the next run) or a positive number of days")
				continue
			}
			kc.RemediationRetentionPeriod = n
		default:
			if l.notifyKindKey(k, key, m) {
				continue
			}
			cands := append(kindKeys(k), notifyKindKeys...)
			if m.key == "inactive_criteria_days" || m.key == "rotation_criteria_days" {
				// the other kind's threshold: name this one's
				l.add(f, key, "unknown key", fmt.Sprintf("did you mean %q?", thr))
				continue
			}
			l.unknown(f, key, m.key, cands)
		}
	}
	if kc.Enabled && !limitSeen {
		l.add(f, joinKey(sec, thr), "missing (Hammer has no default)",
			fmt.Sprintf(`set the number of days, e.g. "%s": 90, or set "enabled": false`, thr))
	}
	if limitOK && warnOK && kc.WarningDays >= kc.LimitDays {
		l.add(f, joinKey(sec, "warning_days"),
			fmt.Sprintf("%s is not less than %s (%d)", warnRaw, thr, kc.LimitDays),
			fmt.Sprintf("set warning_days below %d, or 0 for no warning stage", kc.LimitDays))
	}
	if len(ignore) > 0 {
		key := joinKey(sec, "ignore_accounts")
		if kc.Accounts, ok = l.exclude(key, "accounts", kc.Accounts, accountsSet, ignore); ok {
			kc.RemediationAccounts, _ = l.exclude(key, "remediation_accounts", kc.RemediationAccounts, remSet, ignore)
		}
	}
	l.cfg.Kinds[k] = kc
}

// exclude applies Hammer's ignore_accounts (key) to a list of accounts
// (name): the listed accounts, or all of aws.accounts when the list is not
// set, minus the ignored ones. It reports false after a problem.
func (l *loader) exclude(key, name string, list []string, set bool, ignore []string) ([]string, bool) {
	base, from := list, name
	if !set {
		base, from = nil, "aws.accounts"
		for _, a := range l.cfg.AWS.Accounts {
			base = append(base, a.ID)
		}
	}
	if len(base) == 0 {
		// Accounts come from the organization: the rule excludes them at
		// run time (Rule.ExcludeAccounts).
		return list, set
	}
	var out []string
	for _, a := range base {
		if !slices.Contains(ignore, a) {
			out = append(out, a)
		}
	}
	if len(out) == 0 {
		l.add(ConfigFile, key, "excludes every account of "+from, `set "enabled": false instead, or shorten ignore_accounts`)
		return list, false
	}
	return out, true
}

// accounts reads a list of account IDs: a JSON list of strings, or Hammer's
// comma-separated string. set is false when the key is null.
func (l *loader) accounts(file, key string, v *jvalue, mustBeKnown bool) (ids []string, set bool) {
	var raw []string
	switch v.t {
	case jNull:
		return nil, false
	case jString:
		raw = strings.Split(v.s, ",")
	case jArray:
		for _, e := range v.arr {
			switch e.t {
			case jString:
				raw = append(raw, e.s)
			case jNumber:
				l.add(file, key, e.String()+" is a number", fmt.Sprintf("write account IDs as strings: %q", e.n.String()))
			default:
				l.add(file, key, e.String()+" is not an account ID", `write 12-digit account IDs as strings, e.g. ["123456789012"]`)
			}
		}
	default:
		l.add(file, key, v.String()+" is not a list of account IDs", `write a list, e.g. ["123456789012"], or a comma-separated string`)
		return nil, false
	}
	ids = []string{}
	for _, id := range raw {
		id = strings.TrimSpace(id)
		if id == "" || !l.accountID(file, key, id) {
			continue
		}
		if mustBeKnown && len(l.known) > 0 && !l.known[id] {
			l.add(file, key, fmt.Sprintf("%q is not in aws.accounts", id), "add it to aws.accounts or remove it here")
			continue
		}
		ids = append(ids, id)
	}
	return ids, true
}

// isAccountID reports whether id is 12 digits.
func isAccountID(id string) bool {
	return len(id) == 12 && strings.Trim(id, "0123456789") == ""
}

// accountID reports (as a problem) an ID that is not 12 digits.
func (l *loader) accountID(file, key, id string) bool {
	if isAccountID(id) {
		return true
	}
	l.add(file, key, fmt.Sprintf("%q is not a 12-digit AWS account ID", id), "write the account's 12 digits")
	return false
}

// str reads a string; null counts as absent ("", false).
func (l *loader) str(file, key string, v *jvalue) (string, bool) {
	switch v.t {
	case jString:
		return v.s, true
	case jNull:
		return "", false
	}
	l.add(file, key, v.String()+" is not a string", "write it in double quotes")
	return "", false
}

// nonEmpty sets *dst to a string value unless it is empty or absent (the
// default stays).
func (l *loader) nonEmpty(file, key string, v *jvalue, dst *string) {
	if s, ok := l.str(file, key, v); ok && s != "" {
		*dst = s
	}
}

// boolean reads true/false, accepting Hammer's "true"/"false" strings; null
// counts as absent.
func (l *loader) boolean(file, key string, v *jvalue) (bool, bool) {
	switch v.t {
	case jBool:
		return v.b, true
	case jNull:
		return false, false
	case jString:
		switch strings.ToLower(strings.TrimSpace(v.s)) {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	l.add(file, key, v.String()+" is not a boolean", "write true or false")
	return false, false
}

// days reads a number of days like integer, bounded by policy.MaxDays (100
// years): more is a problem whose fix is fix. A huge number meaning "never"
// would overflow date arithmetic; a check is switched off with "enabled":
// false instead.
func (l *loader) days(file, key string, v *jvalue, fix string) (int, bool) {
	var s string
	switch v.t {
	case jNumber:
		s = v.n.String()
	case jString:
		s = strings.TrimSpace(v.s)
	}
	if fl, err := strconv.ParseFloat(s, 64); err == nil && fl == math.Trunc(fl) && fl > policy.MaxDays {
		l.add(file, key, fmt.Sprintf("%s is more than %d days (100 years)", v, policy.MaxDays), fix)
		return 0, false
	}
	return l.integer(file, key, v)
}

// integer reads a whole number, accepting Hammer's "10" strings; null counts
// as absent.
func (l *loader) integer(file, key string, v *jvalue) (int, bool) {
	var s string
	switch v.t {
	case jNull:
		return 0, false
	case jNumber:
		s = v.n.String()
	case jString:
		s = strings.TrimSpace(v.s)
	default:
		l.add(file, key, v.String()+" is not a number", "write a whole number of days, e.g. 90")
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= math.MinInt32 && n <= math.MaxInt32 {
		return int(n), true
	}
	if fl, err := strconv.ParseFloat(s, 64); err == nil {
		if fl != math.Trunc(fl) {
			l.add(file, key, v.String()+" is not a whole number", "write a whole number of days, e.g. 90")
		} else {
			l.add(file, key, v.String()+" is out of range", "write a whole number of days, e.g. 90")
		}
		return 0, false
	}
	l.add(file, key, v.String()+" is not a number", "write a whole number of days, e.g. 90")
	return 0, false
}

func (l *loader) whitelist(root *jvalue) {
	const f = WhitelistFile
	l.object(f, "", root)
	var cands []string
	for _, k := range policy.Kinds {
		cands = append(cands, string(k))
	}
	for _, m := range root.obj {
		kind := policy.Kind(m.key)
		switch {
		case m.key == commentKey:
		case kind.Valid():
			if !l.object(f, m.key, m.val) {
				continue
			}
			for _, a := range m.val.obj {
				if a.key == commentKey {
					continue
				}
				key := joinKey(m.key, a.key)
				if !l.accountID(f, m.key, a.key) {
					continue
				}
				if a.val.t != jArray {
					l.add(f, key, a.val.String()+" is not a list", `write a list of user names and access key IDs, e.g. ["break-glass"]`)
					continue
				}
				if l.cfg.Whitelist[kind] == nil {
					l.cfg.Whitelist[kind] = map[string][]string{}
				}
				entries := l.cfg.Whitelist[kind][a.key]
				if entries == nil {
					entries = []string{}
				}
				for i, e := range a.val.arr {
					switch e.t {
					case jString:
						if s := strings.TrimSpace(e.s); s != "" {
							entries = append(entries, s)
						}
					case jObject:
						// keywarden's form: an entry with an end, owner
						// and reason beside Hammer's plain strings.
						if x, ok := l.datedEntry(f, fmt.Sprintf("%s[%d]", key, i), kind, a.key, e); ok && x.Until.IsZero() {
							entries = append(entries, x.Subject)
						} else if ok {
							l.cfg.Dated = append(l.cfg.Dated, x)
						}
					default:
						l.add(f, key, e.String()+" is not a string", `write user names and access key IDs in double quotes, or an entry with an end: {"id": "...", "expires": "2027-01-31", "owner": "...", "reason": "..."}`)
					}
				}
				l.cfg.Whitelist[kind][a.key] = entries
			}
		case suggest(m.key, cands) != "":
			// A misspelt section would silently drop exemptions.
			l.add(f, m.key, "unknown section", fmt.Sprintf("did you mean %q?", suggest(m.key, cands)))
		default:
			// The whitelist of one of Hammer's other checks (any shape:
			// Hammer's samples hold 13-digit IDs and empty lists there).
			l.ignore(f, m.key)
		}
	}
}

func (l *loader) ticketOwners(root *jvalue) {
	const f = TicketOwnersFile
	l.object(f, "", root)
	to := &l.cfg.TicketOwners
	for _, m := range root.obj {
		switch m.key {
		case "account":
			if m.val.t == jNull || !l.object(f, m.key, m.val) {
				continue
			}
			for _, a := range m.val.obj {
				key := joinKey("account", a.key)
				if !isAccountID(a.key) {
					// Hammer's own sample keys an entry with 13 digits: it
					// can never match an account, which is worth saying but
					// not worth stopping a scan for.
					l.warn(f, key, fmt.Sprintf("%q is not a 12-digit AWS account ID, so this routing entry never matches (notices of every account go to the global owners)", a.key),
						"write the account's 12 digits, or remove the entry")
					continue
				}
				if len(l.known) > 0 && !l.known[a.key] && !l.cfg.AWS.Organization.Discover {
					l.warn(f, key, fmt.Sprintf("account %s is not in config.json's aws.accounts, so this routing entry never matches", a.key),
						"add the account to aws.accounts, or remove the entry")
				}
				if !l.object(f, key, a.val) {
					continue
				}
				var o Owner
				for _, om := range a.val.obj {
					l.owner(key, &o, om)
				}
				if to.Accounts == nil {
					to.Accounts = map[string]Owner{}
				}
				to.Accounts[a.key] = o
			}
		case "bu":
			// Hammer's business-unit/product routing: keywarden has no
			// such tags to match.
			l.ignore(f, "bu")
		default:
			l.owner("", &to.Global, m)
		}
	}
}

// owner reads one key of a ticket_owners.json routing entry into o.
func (l *loader) owner(prefix string, o *Owner, m jmember) {
	const f = TicketOwnersFile
	key := joinKey(prefix, m.key)
	switch m.key {
	case "jira_project":
		o.JiraProject, _ = l.str(f, key, m.val)
	case "jira_owner":
		o.JiraOwner, _ = l.str(f, key, m.val)
	case "jira_parent_ticket":
		o.JiraParentTicket, _ = l.str(f, key, m.val)
	case "slack_owner":
		o.SlackOwner = nil
		switch m.val.t {
		case jNull:
		case jString:
			if s := strings.TrimSpace(m.val.s); s != "" {
				o.SlackOwner = []string{s}
			}
		case jArray:
			for _, e := range m.val.arr {
				if e.t != jString {
					l.add(f, key, e.String()+" is not a string", `write channels and users in double quotes, e.g. ["#security", "bob"]`)
					continue
				}
				if s := strings.TrimSpace(e.s); s != "" {
					o.SlackOwner = append(o.SlackOwner, s)
				}
			}
		default:
			l.add(f, key, m.val.String()+" is not a string or a list", `write a channel or user, or a list, e.g. ["#security", "bob"]`)
		}
	default:
		cands := ownerKeys
		if prefix == "" {
			cands = append(append([]string{}, ownerKeys...), "account", "bu")
		}
		l.unknown(f, key, m.key, cands)
	}
}

// suggest returns the candidate closest to name when it is close enough to
// be a likely typo, else "".
func suggest(name string, candidates []string) string {
	best, bestD := "", math.MaxInt
	for _, c := range candidates {
		if d := levenshtein(strings.ToLower(name), c); d < bestD {
			best, bestD = c, d
		}
	}
	limit := max(1, len(name)/4)
	if bestD <= limit {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func set(xs ...string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// datedEntry reads a whitelist.json entry in keywarden's object form:
// {"id": user name or access key ID, "expires": "YYYY-MM-DD", "owner": ...,
// "reason": ...}. id is required; expires, owner and reason are optional
// (without expires the entry is a plain one, owner and reason its
// documentation); with expires, the exemption ends at the start of that day
// (UTC) and owner and reason are required, as for keywarden exempt add.
// Every other key is an error (a misspelt "expires" would make the exemption
// permanent).
func (l *loader) datedEntry(f, key string, kind policy.Kind, account string, v *jvalue) (policy.Exemption, bool) {
	x := policy.Exemption{Kind: kind, AccountID: account, Source: policy.SourceWhitelist}
	ok := true
	var expires string
	for _, m := range v.obj {
		k := joinKey(key, m.key)
		var dst *string
		switch m.key {
		case "id":
			dst = &x.Subject
		case "expires":
			dst = &expires
		case "owner":
			dst = &x.Owner
		case "reason":
			dst = &x.Reason
		case commentKey:
			continue
		default:
			fix := `use "id", "expires", "owner" and "reason"`
			if s := suggest(m.key, []string{"id", "expires", "owner", "reason"}); s != "" {
				fix = fmt.Sprintf("did you mean %q?", s)
			}
			l.add(f, k, "unknown key", fix)
			ok = false
			continue
		}
		if m.val.t != jString {
			l.add(f, k, m.val.String()+" is not a string", "write it in double quotes")
			ok = false
			continue
		}
		*dst = strings.TrimSpace(m.val.s)
	}
	if x.Subject == "" {
		l.add(f, key, `an entry without "id"`, `name the user or access key ID: {"id": "break-glass", ...}`)
		ok = false
	}
	if expires == "" {
		return x, ok
	}
	t, err := time.Parse("2006-01-02", expires)
	if err != nil {
		l.add(f, joinKey(key, "expires"), fmt.Sprintf("%q is not a date", expires), `write the day the exemption ends as YYYY-MM-DD, e.g. "2027-01-31"`)
		return x, false
	}
	x.Until = t.UTC()
	if x.Owner == "" || x.Reason == "" {
		l.add(f, key, `an entry with "expires" needs "owner" and "reason"`, "say who answers for the exemption and why, so that its end can be announced")
		ok = false
	}
	return x, ok
}
