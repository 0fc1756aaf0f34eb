// Package iampolicy holds the least-privilege IAM policies keywarden needs,
// as data: the single source for `keywarden policy`, the files in deploy/
// and the test that checks every AWS call keywarden makes is allowed (and
// every allowed action is used).
package iampolicy

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Role names a place keywarden's permissions live.
type Role string

// Roles.
const (
	// Audit is the role keywarden assumes in each member account
	// (aws.role_name, default keywarden-audit): read-only IAM.
	Audit Role = "audit"
	// Runner is the identity keywarden runs as (Lambda, EC2, CI user) in its
	// own account: assume the member roles, discover the organization, publish
	// to SNS, keep issues in DynamoDB.
	Runner Role = "runner"
)

// AuditActions are the read-only IAM calls of a scan (both sources) and of
// the live re-check before a remediation.
var AuditActions = []string{
	"iam:GenerateCredentialReport",
	"iam:GetCredentialReport",
	"iam:GetAccountAuthorizationDetails",
	"iam:ListUsers",
	"iam:ListAccessKeys",
	"iam:GetAccessKeyLastUsed",
	"iam:GetLoginProfile",
	"iam:GetUser",
	"iam:ListUserTags",
}

// RemediationActions are the only mutating calls keywarden makes:
// deactivate (and, on rollback, re-activate) an access key, delete a login
// profile.
var RemediationActions = []string{
	"iam:UpdateAccessKey",
	"iam:DeleteLoginProfile",
}

// RunnerActions are the runner's own calls, by statement.
var RunnerActions = map[string][]string{
	"AssumeMemberRoles":    {"sts:AssumeRole"},
	"DiscoverAccounts":     {"organizations:ListAccounts"},
	"PublishNotifications": {"sns:Publish"},
	"ReadConfiguration":    {"ssm:GetParameter"},
	"ImportFindings":       {"securityhub:BatchImportFindings"},
	"KeepIssues": {
		"dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
		"dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:TransactWriteItems",
	},
}

// Statement is one IAM policy statement.
type Statement struct {
	Sid      string   `json:"Sid"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource any      `json:"Resource"`
}

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Options shape the documents.
type Options struct {
	// Remediation adds the mutating actions.
	Remediation bool
	// RoleName of the member-account role the runner assumes (default
	// keywarden-audit).
	RoleName string
	// RoleNames are the member-account roles the runner assumes when they
	// differ by purpose (Hammer's aws.role_name_identification to scan,
	// aws.role_name_reporting to remediate); they replace RoleName.
	RoleNames []string
	// TopicARN is the SNS topic keywarden publishes to (sns.topic_arn);
	// empty allows topics named keywarden-*.
	TopicARN string
}

// roleNames returns the distinct member-account role names, in order.
func (o Options) roleNames() []string {
	var out []string
	for _, n := range o.RoleNames {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	switch {
	case len(out) > 0:
		return out
	case o.RoleName != "":
		return []string{o.RoleName}
	}
	return []string{"keywarden-audit"}
}

// AuditPolicy is the policy of the member-account role. With remediation it
// also allows deactivating keys and deleting login profiles of IAM users
// (never of the role itself: users only).
func AuditPolicy(o Options) Document {
	d := Document{Version: "2012-10-17", Statement: []Statement{{
		Sid: "KeywardenAudit", Effect: "Allow", Action: sorted(AuditActions), Resource: "*",
	}}}
	if o.Remediation {
		d.Statement = append(d.Statement, Statement{
			Sid: "KeywardenRemediate", Effect: "Allow", Action: sorted(RemediationActions),
			Resource: "arn:aws:iam::*:user/*",
		})
	}
	return d
}

// RunnerPolicy is the policy of keywarden's own identity.
func RunnerPolicy(o Options) Document {
	var roles []string
	for _, n := range o.roleNames() {
		roles = append(roles, "arn:aws:iam::*:role/"+n)
	}
	var assume any = roles
	if len(roles) == 1 {
		assume = roles[0]
	}
	topic := "arn:aws:sns:*:*:keywarden-*"
	if o.TopicARN != "" {
		topic = o.TopicARN
	}
	res := map[string]any{
		"AssumeMemberRoles":    assume,
		"DiscoverAccounts":     "*",
		"PublishNotifications": topic,
		"ReadConfiguration":    "arn:aws:ssm:*:*:parameter/keywarden/*",
		"ImportFindings":       "arn:aws:securityhub:*:*:product/*/default",
		"KeepIssues":           []string{"arn:aws:dynamodb:*:*:table/hammer-iam-user-*", "arn:aws:dynamodb:*:*:table/keywarden-*"},
	}
	sids := make([]string, 0, len(RunnerActions))
	for sid := range RunnerActions {
		sids = append(sids, sid)
	}
	sort.Strings(sids)
	d := Document{Version: "2012-10-17"}
	for _, sid := range sids {
		d.Statement = append(d.Statement, Statement{Sid: sid, Effect: "Allow", Action: sorted(RunnerActions[sid]), Resource: res[sid]})
	}
	return d
}

// For returns the document of a role.
func For(r Role, o Options) (Document, error) {
	switch r {
	case Audit:
		return AuditPolicy(o), nil
	case Runner:
		return RunnerPolicy(o), nil
	}
	return Document{}, fmt.Errorf("unknown role %q: use audit or runner", r)
}

// JSON renders a document indented, as deploy/ keeps it.
func (d Document) JSON() []byte {
	b, _ := json.MarshalIndent(d, "", "  ")
	return append(b, '\n')
}

// Actions lists every action a document allows.
func (d Document) Actions() []string {
	var out []string
	for _, s := range d.Statement {
		out = append(out, s.Action...)
	}
	return sorted(out)
}

// AllActions is every action of every policy, remediation included.
func AllActions() []string {
	all := append(AuditPolicy(Options{Remediation: true}).Actions(), RunnerPolicy(Options{}).Actions()...)
	return sorted(all)
}

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	n := 0
	for i, x := range out {
		if i == 0 || x != out[i-1] {
			out[n] = x
			n++
		}
	}
	return out[:n]
}

// Normalize spells an action as IAM does in policies ("iam:ListUsers"),
// from a service and an API action name.
func Normalize(service, action string) string {
	return strings.ToLower(service) + ":" + action
}
