// Package config loads and validates keywarden's configuration: Dow Jones
// Hammer's config.json, whitelist.json and ticket_owners.json, read as they
// are, extended in the same style.
package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/keywarden/keywarden/internal/policy"
)

// Config is the validated configuration of a run.
type Config struct {
	// Dir is the folder the files were read from.
	Dir string
	AWS AWS
	// Kinds holds the section of each kind keywarden handles, for every
	// kind present in config.json. A kind missing from config.json is absent.
	Kinds map[policy.Kind]*Kind
	Store Store
	// Remediation is the top-level "remediation" section (remediation.go).
	Remediation Remediation
	// Whitelist: kind -> account ID -> user names / access key IDs.
	Whitelist map[policy.Kind]map[string][]string
	// Dated are whitelist.json's entries with an end: {"id": ..., "expires":
	// DATE, "owner": ..., "reason": ...} beside the plain strings.
	Dated []policy.Exemption
	// TicketOwners is ticket_owners.json (zero when the file is absent).
	TicketOwners TicketOwners
	// Notify is the reporting configuration (notify.go).
	Notify Notify
	// Ignored lists the config.json sections of Hammer's other checks, which
	// keywarden does not handle (sorted); `config validate` lists them with
	// IgnoredReason.
	Ignored []string
	// IgnoredKeys lists, as "file: key", the keys of the three files that
	// are Hammer's but unused by keywarden: keys inside the sections
	// keywarden reads (aws.ddb_backup, user_inactivekeys.topic_name,
	// slack.channels…), the whitelists of Hammer's other checks,
	// ticket_owners.json "bu".
	IgnoredKeys []string
	// Warnings are problems that do not stop a run (a routing entry that can
	// never match…), in file order.
	Warnings []Problem
}

// IgnoredLine renders everything keywarden ignores on one line, by file:
//
//	config.json: api, aws.ddb_backup, cloudtrails; whitelist.json: s3_bucket_acl
//
// "" when nothing is ignored.
func (c *Config) IgnoredLine() string {
	byFile := map[string][]string{}
	byFile[ConfigFile] = append(byFile[ConfigFile], c.Ignored...)
	for _, k := range c.IgnoredKeys {
		f, key, ok := strings.Cut(k, ": ")
		if !ok {
			f, key = ConfigFile, k
		}
		byFile[f] = append(byFile[f], key)
	}
	var parts []string
	for _, f := range []string{ConfigFile, WhitelistFile, TicketOwnersFile} {
		keys := byFile[f]
		if len(keys) == 0 {
			continue
		}
		sort.Strings(keys)
		parts = append(parts, f+": "+strings.Join(keys, ", "))
	}
	return strings.Join(parts, "; ")
}

// AWS is the "aws" section.
type AWS struct {
	// Accounts in the order they appear in config.json.
	Accounts []Account
	// RoleName assumed in each account (default keywarden-audit), unless
	// one of Hammer's role names below is set for the purpose.
	RoleName string
	// RoleNameIdentification is Hammer's aws.role_name_identification: the
	// role assumed to scan ("" = RoleName).
	RoleNameIdentification string
	// RoleNameReporting is Hammer's aws.role_name_reporting: the role
	// assumed to remediate, roll back and re-check before acting ("" =
	// RoleName).
	RoleNameReporting string
	// Region for IAM/STS clients ("" = SDK default chain).
	Region string
	// ExternalID passed to AssumeRole ("" = none).
	ExternalID string
	// Organization is Organizations discovery (aws.organization).
	Organization Organization
	// AccountConcurrency is aws.account_concurrency: the most IAM calls in
	// flight per account (0: the default, which --account-concurrency
	// overrides).
	AccountConcurrency int
}

// ScanRole is the role assumed in each account to scan it.
func (a AWS) ScanRole() string {
	if a.RoleNameIdentification != "" {
		return a.RoleNameIdentification
	}
	return a.RoleName
}

// RemediationRole is the role assumed in each account to remediate (and
// roll back).
func (a AWS) RemediationRole() string {
	if a.RoleNameReporting != "" {
		return a.RoleNameReporting
	}
	return a.RoleName
}

// Account is one entry of aws.accounts (id -> name).
type Account struct {
	ID   string
	Name string
}

// Kind is one check section (user_inactivekeys, user_keysrotation,
// user_inactivepasswords).
type Kind struct {
	Kind    policy.Kind
	Enabled bool
	// TableName is ddb.table_name (Hammer's default when absent).
	TableName           string
	Accounts            []string
	RemediationAccounts []string
	// LimitDays is inactive_criteria_days or rotation_criteria_days.
	LimitDays                  int
	WarningDays                int
	Reporting                  bool
	Remediation                bool
	RemediationRetentionPeriod int
	// TopicName is Hammer's SNS topic_name, accepted and unused.
	TopicName string
	// IgnoreAccounts is Hammer's ignore_accounts. Accounts and
	// RemediationAccounts exclude these IDs (filled from aws.accounts when
	// not set), and the rule excludes them too, which is what counts when
	// the accounts are discovered from the organization (aws.accounts empty).
	IgnoreAccounts []string
}

// Rule returns the policy rule of the section.
func (k *Kind) Rule() policy.Rule {
	return policy.Rule{Kind: k.Kind, LimitDays: k.LimitDays, WarningDays: k.WarningDays, Accounts: k.Accounts,
		ExcludeAccounts: k.IgnoreAccounts}
}

// Store is the "store" section.
type Store struct {
	Type string // "sqlite" (default) or "dynamodb"
	// Path of the SQLite file (default keywarden.db), relative to the
	// working directory.
	Path string
	// DynamoDB: Region (default aws.region), Endpoint (a DynamoDB-compatible
	// server instead of AWS's), TablePrefix (put before every table name:
	// the kinds' ddb.table_name and keywarden-meta), CreateTables (create
	// missing tables, on-demand capacity; else they must exist, see deploy/).
	Region       string
	Endpoint     string
	TablePrefix  string
	CreateTables bool
}

// TicketOwners is ticket_owners.json: global settings and per-account
// overrides.
type TicketOwners struct {
	Global   Owner
	Accounts map[string]Owner
}

// Owner is one routing entry of ticket_owners.json.
type Owner struct {
	JiraProject      string
	JiraOwner        string
	JiraParentTicket string
	// SlackOwner is a list of "#channels" and users (Hammer allows a string
	// or a list).
	SlackOwner []string
}

// Rules returns the rules of the enabled kinds, in policy.Kinds order.
func (c *Config) Rules() []policy.Rule {
	var out []policy.Rule
	for _, k := range policy.Kinds {
		if s, ok := c.Kinds[k]; ok && s.Enabled {
			out = append(out, s.Rule())
		}
	}
	return out
}

// AccountName returns the name of account id in aws.accounts ("" if absent).
func (c *Config) AccountName(id string) string {
	for _, a := range c.AWS.Accounts {
		if a.ID == id {
			return a.Name
		}
	}
	return ""
}

// Exemptions returns the whitelist and tag exemptions.
func (c *Config) Exemptions() policy.Exemptions {
	return policy.Exemptions{Whitelist: c.Whitelist, Dated: policy.NewDated(c.Dated)}
}

// For returns the routing of account as Hammer resolves it: each value of
// the account's entry when non-empty, else the global value.
func (t TicketOwners) For(account string) Owner {
	o := t.Global
	a, ok := t.Accounts[account]
	if !ok {
		return o
	}
	if a.JiraProject != "" {
		o.JiraProject = a.JiraProject
	}
	if a.JiraOwner != "" {
		o.JiraOwner = a.JiraOwner
	}
	if a.JiraParentTicket != "" {
		o.JiraParentTicket = a.JiraParentTicket
	}
	if len(a.SlackOwner) > 0 {
		o.SlackOwner = a.SlackOwner
	}
	return o
}

// EndedWhitelist warns of whitelist.json's entries with an end that has
// passed by now: they exempt nothing any more (allowed, so that an
// exemption ending is not a broken configuration).
func (c *Config) EndedWhitelist(now time.Time) []Problem {
	var out []Problem
	for _, x := range c.Dated {
		if !x.Active(now) {
			out = append(out, Problem{File: WhitelistFile, Key: string(x.Kind) + "." + x.AccountID,
				Msg: fmt.Sprintf("the exemption of %q (%s) ended on %s: it exempts nothing", x.Subject, x.Owner, x.End()),
				Fix: "remove the entry, or move its \"expires\" date"})
		}
	}
	return out
}
