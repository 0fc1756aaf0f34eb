// Package inventory holds the credential facts of an AWS account and the
// sources that produce them: the AWS fast path (credential report + live
// confirmation), the AWS exact path (per-user live calls) and a credential
// report file.
package inventory

import (
	"context"
	"time"
)

// Account is one AWS account to audit.
type Account struct {
	ID   string
	Name string
}

// Facts are the credential facts of one account at one moment.
type Facts struct {
	Account Account
	// ReportGenerated is when the credential report behind these facts was
	// generated (zero for the live source).
	ReportGenerated time.Time
	// ReportStale: the credential report was older than the scan (AWS
	// serves a cached one up to 4 hours old), so every suspect it showed
	// was confirmed live. ReportAge is its age on the server's clock when
	// it was read (zero when unknown or not from AWS).
	ReportStale bool
	ReportAge   time.Duration
	// Complete: Users is the whole live set of users of the account, so a
	// user absent from it is deleted. A source that cannot promise that (a
	// credential report file, which can be cut at a line boundary) leaves
	// it false, and issues of users it does not list stay as they are.
	Complete bool
	Users    []User
	// Confirmed counts the suspects of a stale report confirmed live.
	Confirmed int
	// Throttled counts the calls IAM throttled (each slowed the account).
	Throttled int
	// Calls counts the AWS API calls made to collect these facts, by action.
	Calls map[string]int
}

// User is an IAM user and its credentials. The root account row of a
// credential report is never a User.
type User struct {
	Name     string
	ARN      string
	Created  time.Time
	Tags     map[string]string
	Password *Password // nil when the user has no login profile
	Keys     []AccessKey
}

// Key status values as IAM spells them.
const (
	StatusActive   = "Active"
	StatusInactive = "Inactive"
)

// AccessKey is one access key of a user.
type AccessKey struct {
	// ID is the access key ID; empty when the source (a credential report
	// file) does not know it.
	ID string
	// Slot is 1 or 2: the credential report column pair the key sits in
	// (keys ordered by creation), 0 when unknown.
	Slot            int
	Status          string // StatusActive or StatusInactive
	Created         time.Time
	LastUsed        *time.Time
	LastUsedService string
	LastUsedRegion  string
}

// Active reports whether the key can sign requests.
func (k AccessKey) Active() bool { return k.Status == StatusActive }

// Password is a user's console login profile.
type Password struct {
	Enabled bool
	// Created is when the login profile was created (from the credential
	// report: password_last_changed, the closest it records).
	Created  time.Time
	LastUsed *time.Time
}

// Source produces the facts of one account.
type Source interface {
	Collect(ctx context.Context, account Account) (*Facts, error)
}
