package iampolicy

import (
	"reflect"
	"testing"
)

func resource(d Document, sid string) any {
	for _, s := range d.Statement {
		if s.Sid == sid {
			return s.Resource
		}
	}
	return nil
}

// The runner may assume exactly the configured member roles and publish to
// exactly the configured topic.
func TestRunnerPolicyConfiguredNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		o      Options
		assume any
		topic  any
	}{
		{"defaults", Options{}, "arn:aws:iam::*:role/keywarden-audit", "arn:aws:sns:*:*:keywarden-*"},
		{"role name", Options{RoleName: "audit-ro"}, "arn:aws:iam::*:role/audit-ro", "arn:aws:sns:*:*:keywarden-*"},
		{"hammer roles", Options{RoleName: "ignored", RoleNames: []string{"hammer-id", "hammer-ec2"},
			TopicARN: "arn:aws:sns:eu-west-1:123456789012:sec"},
			[]string{"arn:aws:iam::*:role/hammer-id", "arn:aws:iam::*:role/hammer-ec2"}, "arn:aws:sns:eu-west-1:123456789012:sec"},
		{"same role twice", Options{RoleNames: []string{"r", "r", ""}}, "arn:aws:iam::*:role/r", "arn:aws:sns:*:*:keywarden-*"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := RunnerPolicy(tc.o)
			if got := resource(d, "AssumeMemberRoles"); !reflect.DeepEqual(got, tc.assume) {
				t.Errorf("AssumeMemberRoles resource = %#v, want %#v", got, tc.assume)
			}
			if got := resource(d, "PublishNotifications"); !reflect.DeepEqual(got, tc.topic) {
				t.Errorf("PublishNotifications resource = %#v, want %#v", got, tc.topic)
			}
		})
	}
}
