package inventory

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strings"
	"time"
	"unsafe"
)

// CredentialReport is a parsed IAM credential report: the users of one
// account and their credentials.
type CredentialReport struct {
	// AccountID is read from the ARNs; empty when the report has no rows.
	AccountID string
	// Users holds every IAM user row, in report order. The root account
	// row is never one of them.
	Users []User
	// Root is the root account row, nil when the report has none.
	Root *RootRow
}

// RootRow is the <root_account> row of a credential report. It is kept for
// information only: the root account is never a User and never remediated.
type RootRow struct {
	ARN              string
	Created          time.Time
	PasswordLastUsed *time.Time
	MFAActive        bool
	// Keys are the root account's access keys (there should be none).
	Keys []AccessKey
}

// RootAccountName is the user column of the root account row.
const RootAccountName = "<root_account>"

// Credential report columns, as IAM names them.
const (
	colUser              = "user"
	colARN               = "arn"
	colUserCreationTime  = "user_creation_time"
	colPasswordEnabled   = "password_enabled"
	colPasswordLastUsed  = "password_last_used"
	colPasswordChanged   = "password_last_changed"
	colMFAActive         = "mfa_active"
	reportDateHint       = "want ISO 8601 like 2024-01-02T15:04:05+00:00"
	reportBoolHint       = "want true or false"
	reportARNHint        = "want arn:aws:iam::<12-digit account ID>:user/<name>"
	reportInternMaxItems = 256
	reportLineEstimate   = 200
	reportMaxPresize     = 1 << 20
)

// reportColumns holds the index of each column the parser reads; -1 when an
// optional column is absent.
type reportColumns struct {
	width                                                     int
	user, arn, created, pwEnabled, pwLastUsed, pwChanged, mfa int
	keys                                                      [2]keyColumns
}

type keyColumns struct {
	active, rotated, lastUsed, region, service int
	// names of the columns, for error messages
	activeName, rotatedName, lastUsedName string
}

// columnSpec binds a header name to the index it sets.
type columnSpec struct {
	name     string
	idx      *int
	required bool
}

func (c *reportColumns) specs() []columnSpec {
	s := []columnSpec{
		{colUser, &c.user, true},
		{colARN, &c.arn, true},
		{colUserCreationTime, &c.created, true},
		{colPasswordEnabled, &c.pwEnabled, true},
		{colPasswordLastUsed, &c.pwLastUsed, true},
		{colPasswordChanged, &c.pwChanged, true},
		{colMFAActive, &c.mfa, false},
	}
	for i := range c.keys {
		k := &c.keys[i]
		p := fmt.Sprintf("access_key_%d_", i+1)
		k.activeName, k.rotatedName, k.lastUsedName = p+"active", p+"last_rotated", p+"last_used_date"
		s = append(s,
			columnSpec{k.activeName, &k.active, true},
			columnSpec{k.rotatedName, &k.rotated, true},
			columnSpec{k.lastUsedName, &k.lastUsed, true},
			columnSpec{p + "last_used_region", &k.region, false},
			columnSpec{p + "last_used_service", &k.service, false},
		)
	}
	return s
}

// reportParser holds the state of one parse. Times, keys and passwords are
// carved out of slabs so that a row costs a handful of allocations, not one
// per value.
type reportParser struct {
	name     string
	cols     reportColumns
	rep      CredentialReport
	acctLine int // line that set rep.AccountID
	rootLine int
	// users finds a second row of a user: the row (line, index in
	// rep.Users) of each user name, by hash. Names whose hashes collide
	// go to collided.
	users    map[uint64]userRow
	seed     maphash.Seed
	collided map[string]int

	times  []time.Time
	keys   []AccessKey
	pws    []Password
	intern map[string]string
}

// ParseCredentialReport parses an IAM credential report CSV (as returned,
// base64-decoded, by GetCredentialReport), read from r. name identifies the input in
// error messages ("credential-report.csv line 7: column ...").
//
// Columns are matched by header name, in any order; unknown columns are
// ignored. N/A, no_information, not_supported and empty values mean "no
// value". Malformed input (missing columns, wrong field counts, bad
// booleans or dates, rows of different accounts) is an error naming the
// line and column.
func ParseCredentialReport(r io.Reader, name string) (*CredentialReport, error) {
	var data []byte
	if l, ok := r.(interface{ Len() int }); ok {
		// bytes.Reader, strings.Reader, bytes.Buffer: read in one go.
		data = make([]byte, 0, l.Len()+bytes.MinRead)
	}
	buf := bytes.NewBuffer(data)
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("%s: read: %w", name, err)
	}
	return ParseCredentialReportBytes(buf.Bytes(), name)
}

// ParseCredentialReportBytes is ParseCredentialReport of a report in
// memory (GetCredentialReport's Content, a file's bytes), without copying
// it. data must not change during the call; the report returned does not
// refer to it.
func ParseCredentialReportBytes(data []byte, name string) (*CredentialReport, error) {
	p := &reportParser{name: name}
	// Size Users once instead of growing it row by row. A report line is
	// 160 to 300 bytes; an estimate a little high beats a copy of every
	// user.
	p.rep.Users = make([]User, 0, min(len(data)/reportLineEstimate+1, reportMaxPresize))
	// The report is parsed in place: every field is a substring of text,
	// which aliases data. Whatever the parse keeps (ARNs and names, the
	// account ID, regions and services) is cloned first, so a value costs
	// no allocation unless it is kept and nothing returned pins or aliases
	// data. Keep it that way: never store a field without strings.Clone
	// (or p.str).
	lines := reportLines{text: unsafe.String(unsafe.SliceData(data), len(data))}

	header, line, err := lines.next()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file: want an IAM credential report CSV with a header line (user,arn,user_creation_time,...)", name)
	}
	if err != nil {
		return nil, p.csvError(err)
	}
	if err := p.mapHeader(header, line); err != nil {
		return nil, err
	}
	for {
		rec, line, err := lines.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, p.csvError(err)
		}
		if len(rec) != p.cols.width {
			return nil, fmt.Errorf("%s line %d: %d fields, want %d (one per header column)", name, line, len(rec), p.cols.width)
		}
		if err := p.row(rec, line); err != nil {
			return nil, err
		}
	}
	if p.rep.Root == nil {
		// IAM writes the root row first: a report without it was cut,
		// filtered or assembled by hand, and may lack users too.
		return nil, fmt.Errorf("%s: no %s row: every IAM credential report has one, so this one is incomplete (cut or filtered); use the whole report as downloaded (aws iam get-credential-report, or the IAM console)", name, RootAccountName)
	}
	return &p.rep, nil
}

func (p *reportParser) csvError(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s line %d, byte %d: malformed CSV: %w", p.name, pe.Line, pe.Column, pe.Err)
	}
	return fmt.Errorf("%s: read: %w", p.name, err)
}

func (p *reportParser) mapHeader(header []string, line int) error {
	c := &p.cols
	c.width = len(header)
	specs := c.specs()
	for _, s := range specs {
		*s.idx = -1
	}
	for i, h := range header {
		if i == 0 {
			h = strings.TrimPrefix(h, "\ufeff")
		}
		h = strings.ToLower(strings.TrimSpace(h))
		for _, s := range specs {
			if s.name != h {
				continue
			}
			if *s.idx >= 0 {
				return fmt.Errorf("%s line %d: column %s appears twice (fields %d and %d)", p.name, line, h, *s.idx+1, i+1)
			}
			*s.idx = i
		}
	}
	known := false
	for _, s := range specs {
		known = known || *s.idx >= 0
	}
	if !known {
		return fmt.Errorf("%s line %d: not an IAM credential report: the header names none of its columns (user,arn,user_creation_time,...); a report from the API must be base64-decoded first", p.name, line)
	}
	var missing []string
	for _, s := range specs {
		if s.required && *s.idx < 0 {
			missing = append(missing, s.name)
		}
	}
	if len(missing) > 0 {
		word := "column"
		if len(missing) > 1 {
			word = "columns"
		}
		return fmt.Errorf("%s line %d: missing required %s %s: want the header of an IAM credential report (user,arn,user_creation_time,...)",
			p.name, line, word, strings.Join(missing, ", "))
	}
	return nil
}

// row parses one data row: a user, or the root account.
func (p *reportParser) row(rec []string, line int) error {
	c := &p.cols
	name, arn := rec[c.user], rec[c.arn]
	account, resource, ok := splitUserARN(arn)
	if !ok {
		return p.fieldErr(line, colARN, "invalid ARN %q: %s", arn, reportARNHint)
	}
	switch {
	case p.rep.AccountID == "":
		p.rep.AccountID, p.acctLine = strings.Clone(account), line
	case account != p.rep.AccountID:
		return p.fieldErr(line, colARN, "account %s differs from account %s on line %d: a report covers one account", account, p.rep.AccountID, p.acctLine)
	}

	created, err := p.date(rec, line, c.created, colUserCreationTime)
	if err != nil {
		return err
	}
	pwLastUsed, err := p.date(rec, line, c.pwLastUsed, colPasswordLastUsed)
	if err != nil {
		return err
	}

	if resource == "root" || name == RootAccountName {
		if resource != "root" {
			return p.fieldErr(line, colARN, "root account row with ARN %q: want arn:aws:iam::<account ID>:root", arn)
		}
		if p.rep.Root != nil {
			return fmt.Errorf("%s line %d: second root account row (the first is on line %d)", p.name, line, p.rootLine)
		}
		mfa, err := p.boolean(rec, line, c.mfa, colMFAActive)
		if err != nil {
			return err
		}
		keys, err := p.accessKeys(rec, line)
		if err != nil {
			return err
		}
		p.rootLine = line
		p.rep.Root = &RootRow{ARN: strings.Clone(arn), Created: created.t, PasswordLastUsed: pwLastUsed.ptr(p), MFAActive: mfa, Keys: keys}
		return nil
	}

	if name == "" || !strings.HasPrefix(resource, "user/") || !strings.HasSuffix(resource, "/"+name) {
		return p.fieldErr(line, colARN, "ARN %q is not the ARN of user %q: %s", arn, name, reportARNHint)
	}
	if !created.ok {
		return p.fieldErr(line, colUserCreationTime, "missing date: %s", reportDateHint)
	}
	pwEnabled, err := p.strictBool(rec, line, c.pwEnabled, colPasswordEnabled)
	if err != nil {
		return err
	}
	pwChanged, err := p.date(rec, line, c.pwChanged, colPasswordChanged)
	if err != nil {
		return err
	}
	keys, err := p.accessKeys(rec, line)
	if err != nil {
		return err
	}

	// One allocation for both strings: the name is the tail of the ARN.
	a := strings.Clone(arn)
	u := User{Name: a[len(a)-len(name):], ARN: a, Created: created.t, Keys: keys}
	if first := p.firstRow(u.Name, line); first > 0 {
		return fmt.Errorf("%s line %d: user %s appears twice (lines %d and %d): a report has one row per user, so this file was edited or joined from several reports; use the report as downloaded", p.name, line, u.Name, first, line)
	}
	// password_last_used can outlive a deleted login profile: only
	// password_enabled=true means there is a password to judge.
	if pwEnabled {
		pc := created.t
		if pwChanged.ok {
			pc = pwChanged.t
		}
		if len(p.pws) == cap(p.pws) {
			p.pws = make([]Password, 0, slabSize(cap(p.pws)))
		}
		p.pws = append(p.pws, Password{Enabled: true, Created: pc, LastUsed: pwLastUsed.ptr(p)})
		u.Password = &p.pws[len(p.pws)-1]
	}
	p.rep.Users = append(p.rep.Users, u)
	return nil
}

// userRow is where a user's row is.
type userRow struct{ line, index int32 }

// firstRow returns the line of an earlier row of user name, or 0, and
// records this row (line; the next entry of rep.Users). A map keyed by the
// names' hashes costs half as much as one keyed by the names.
func (p *reportParser) firstRow(name string, line int) int {
	if p.users == nil {
		p.users = make(map[uint64]userRow, cap(p.rep.Users))
		p.seed = maphash.MakeSeed()
	}
	h := maphash.String(p.seed, name)
	r, ok := p.users[h]
	switch {
	case !ok:
		p.users[h] = userRow{int32(line), int32(len(p.rep.Users))}
		return 0
	case p.rep.Users[r.index].Name == name:
		return int(r.line)
	}
	if first := p.collided[name]; first > 0 {
		return first
	}
	if p.collided == nil {
		p.collided = map[string]int{}
	}
	p.collided[name] = line
	return 0
}

// accessKeys reads both key slots. A slot holds a key when its
// last_rotated date is set.
func (p *reportParser) accessKeys(rec []string, line int) ([]AccessKey, error) {
	if cap(p.keys)-len(p.keys) < len(p.cols.keys) {
		p.keys = make([]AccessKey, 0, slabSize(cap(p.keys)))
	}
	start := len(p.keys)
	for i := range p.cols.keys {
		kc := &p.cols.keys[i]
		active, err := p.strictBool(rec, line, kc.active, kc.activeName)
		if err != nil {
			return nil, err
		}
		rotated, err := p.date(rec, line, kc.rotated, kc.rotatedName)
		if err != nil {
			return nil, err
		}
		lastUsed, err := p.date(rec, line, kc.lastUsed, kc.lastUsedName)
		if err != nil {
			return nil, err
		}
		if !rotated.ok {
			if active {
				// An active key the report cannot date would silently
				// escape every rule.
				return nil, p.fieldErr(line, kc.rotatedName, "missing date for an active key: %s", reportDateHint)
			}
			continue
		}
		k := AccessKey{Slot: i + 1, Status: StatusInactive, Created: rotated.t, LastUsed: lastUsed.ptr(p)}
		if active {
			k.Status = StatusActive
		}
		if kc.region >= 0 {
			k.LastUsedRegion = p.str(rec[kc.region])
		}
		if kc.service >= 0 {
			k.LastUsedService = p.str(rec[kc.service])
		}
		p.keys = append(p.keys, k)
	}
	if len(p.keys) == start {
		return nil, nil
	}
	// Full slice expression: a caller's append must not write into the
	// next user's keys.
	return p.keys[start:len(p.keys):len(p.keys)], nil
}

func slabSize(prev int) int {
	switch {
	case prev < 16:
		return 16
	case prev >= 1024:
		return 1024
	}
	return prev * 2
}

func (p *reportParser) fieldErr(line int, col, format string, args ...any) error {
	return fmt.Errorf("%s line %d: column %s: %s", p.name, line, col, fmt.Sprintf(format, args...))
}

// optTime is a parsed date that may be absent.
type optTime struct {
	t  time.Time
	ok bool
}

// ptr returns a pointer to the time, carved from the parser's slab, or nil.
func (o optTime) ptr(p *reportParser) *time.Time {
	if !o.ok {
		return nil
	}
	if len(p.times) == cap(p.times) {
		p.times = make([]time.Time, 0, slabSize(cap(p.times)))
	}
	p.times = append(p.times, o.t)
	return &p.times[len(p.times)-1]
}

func (p *reportParser) date(rec []string, line, idx int, col string) (optTime, error) {
	if idx < 0 {
		return optTime{}, nil
	}
	s := rec[idx]
	if reportNoValue(s) {
		return optTime{}, nil
	}
	t, ok := parseReportTime(s)
	if !ok {
		return optTime{}, p.fieldErr(line, col, "invalid date %q: %s", s, reportDateHint)
	}
	return optTime{t, true}, nil
}

func (p *reportParser) boolean(rec []string, line, idx int, col string) (bool, error) {
	if idx < 0 {
		return false, nil
	}
	s := rec[idx]
	switch {
	case len(s) == 4 && strings.EqualFold(s, "true"):
		return true, nil
	case len(s) == 5 && strings.EqualFold(s, "false"), reportNoValue(s):
		return false, nil
	}
	return false, p.fieldErr(line, col, "invalid boolean %q: %s", s, reportBoolHint)
}

// strictBool reads a column IAM always fills with true or false (a user's
// password_enabled, access_key_N_active): N/A or anything else there is an
// error, never a silent false.
func (p *reportParser) strictBool(rec []string, line, idx int, col string) (bool, error) {
	s := rec[idx]
	switch {
	case len(s) == 4 && strings.EqualFold(s, "true"):
		return true, nil
	case len(s) == 5 && strings.EqualFold(s, "false"):
		return false, nil
	}
	return false, p.fieldErr(line, col, "invalid boolean %q: %s (IAM writes nothing else in this column)", s, reportBoolHint)
}

// str returns s, or "" for a no-value marker, as a string that does not pin
// the CSV line in memory; the few distinct regions and services are shared.
func (p *reportParser) str(s string) string {
	if reportNoValue(s) {
		return ""
	}
	if v, ok := p.intern[s]; ok {
		return v
	}
	v := strings.Clone(s)
	if p.intern == nil {
		p.intern = make(map[string]string)
	}
	if len(p.intern) < reportInternMaxItems {
		p.intern[v] = v
	}
	return v
}

// reportNoValue reports whether s is one of the credential report's ways
// of saying "nothing here".
func reportNoValue(s string) bool {
	switch len(s) {
	case 0:
		return true
	case 3:
		return s == "N/A"
	case 13:
		return s == "not_supported"
	case 14:
		return s == "no_information"
	}
	return false
}

// splitUserARN splits an IAM ARN (arn:PARTITION:iam::ACCOUNT:RESOURCE) into
// its 12-digit account ID and resource.
func splitUserARN(arn string) (account, resource string, ok bool) {
	rest, ok := strings.CutPrefix(arn, "arn:")
	if !ok {
		return "", "", false
	}
	partition, rest, ok := strings.Cut(rest, ":")
	if !ok || partition == "" {
		return "", "", false
	}
	rest, ok = strings.CutPrefix(rest, "iam::")
	if !ok || len(rest) < 14 || rest[12] != ':' {
		return "", "", false
	}
	account, resource = rest[:12], rest[13:]
	for i := 0; i < 12; i++ {
		if account[i] < '0' || account[i] > '9' {
			return "", "", false
		}
	}
	return account, resource, true
}

// parseReportTime parses an ISO 8601 date-time as the credential report
// writes it. The fixed layouts 2006-01-02T15:04:05+00:00 and
// 2006-01-02T15:04:05Z are parsed by hand; anything else (fractional
// seconds) goes through time.Parse(RFC3339Nano). The result is in UTC.
func parseReportTime(s string) (time.Time, bool) {
	if t, ok := fastReportTime(s); ok {
		return t, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}

func fastReportTime(s string) (time.Time, bool) {
	if len(s) != 20 && len(s) != 25 {
		return time.Time{}, false
	}
	if s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	century, yy := digits2(s[0:2]), digits2(s[2:4])
	if century < 0 || yy < 0 {
		return time.Time{}, false
	}
	year := century*100 + yy
	month, day := digits2(s[5:7]), digits2(s[8:10])
	hour, minute, sec := digits2(s[11:13]), digits2(s[14:16]), digits2(s[17:19])
	if year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	offset := 0
	if len(s) == 20 {
		if s[19] != 'Z' {
			return time.Time{}, false
		}
	} else {
		sign := s[19]
		oh, om := digits2(s[20:22]), digits2(s[23:25])
		if (sign != '+' && sign != '-') || s[22] != ':' || oh < 0 || oh > 23 || om < 0 || om > 59 {
			return time.Time{}, false
		}
		offset = oh*3600 + om*60
		if sign == '-' {
			offset = -offset
		}
	}
	unix := civilDays(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)
	return time.Unix(unix, 0).UTC(), true
}

// digits2 returns the value of two ASCII digits, or a negative number.
func digits2(s string) int {
	a, b := int(s[0])-'0', int(s[1])-'0'
	if a < 0 || a > 9 || b < 0 || b > 9 {
		return -1
	}
	return a*10 + b
}

func daysInMonth(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// civilDays returns the days since 1970-01-01 of a proleptic Gregorian
// date, year >= 1 (Howard Hinnant's days_from_civil).
func civilDays(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
