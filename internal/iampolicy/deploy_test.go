package iampolicy

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite deploy/iam/*.json from the policies")

const deployDir = "../../deploy"

// TestDeployPolicyFiles keeps deploy/iam/*.json identical to `keywarden
// policy` output.
func TestDeployPolicyFiles(t *testing.T) {
	files := map[string]Document{
		"audit-policy.json":             AuditPolicy(Options{}),
		"audit-remediation-policy.json": AuditPolicy(Options{Remediation: true}),
		"runner-policy.json":            RunnerPolicy(Options{}),
	}
	for name, doc := range files {
		path := filepath.Join(deployDir, "iam", name)
		if *update {
			if err := os.WriteFile(path, doc.JSON(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./internal/iampolicy -update writes it)", err)
		}
		if !bytes.Equal(got, doc.JSON()) {
			t.Errorf("%s differs from `keywarden policy`: run go test ./internal/iampolicy -update", path)
		}
	}
}

// TestCloudFormationMatchesPolicy parses the member-account StackSet
// template and checks its role grants exactly the audit actions, plus the
// remediation actions under the remediation condition.
func TestCloudFormationMatchesPolicy(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(deployDir, "cloudformation", "member-role-stackset.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		t.Fatalf("member-role-stackset.yaml is not valid YAML: %v", err)
	}
	var tpl struct {
		AWSTemplateFormatVersion string         `yaml:"AWSTemplateFormatVersion"`
		Parameters               map[string]any `yaml:"Parameters"`
		Resources                map[string]struct {
			Type       string    `yaml:"Type"`
			Condition  string    `yaml:"Condition"`
			Properties yaml.Node `yaml:"Properties"`
		} `yaml:"Resources"`
	}
	if err := root.Decode(&tpl); err != nil {
		t.Fatal(err)
	}
	if tpl.AWSTemplateFormatVersion != "2010-09-09" {
		t.Errorf("AWSTemplateFormatVersion %q", tpl.AWSTemplateFormatVersion)
	}
	for _, p := range []string{"KeywardenAccountId", "RoleName", "ExternalId", "EnableRemediation"} {
		if _, ok := tpl.Parameters[p]; !ok {
			t.Errorf("parameter %s missing", p)
		}
	}
	var audit, remediate []string
	for name, r := range tpl.Resources {
		var props struct {
			PolicyDocument struct {
				Statement []struct {
					Action []string `yaml:"Action"`
				} `yaml:"Statement"`
			} `yaml:"PolicyDocument"`
		}
		switch r.Type {
		case "AWS::IAM::RolePolicy":
			if err := r.Properties.Decode(&props); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			var acts []string
			for _, s := range props.PolicyDocument.Statement {
				acts = append(acts, s.Action...)
			}
			if r.Condition == "Remediation" {
				remediate = append(remediate, acts...)
			} else {
				audit = append(audit, acts...)
			}
		case "AWS::IAM::Role":
		default:
			t.Errorf("unexpected resource %s of type %s", name, r.Type)
		}
	}
	sort.Strings(audit)
	sort.Strings(remediate)
	if strings.Join(audit, ",") != strings.Join(sorted(AuditActions), ",") {
		t.Errorf("template audit actions %v, want %v", audit, sorted(AuditActions))
	}
	if strings.Join(remediate, ",") != strings.Join(sorted(RemediationActions), ",") {
		t.Errorf("template remediation actions %v, want %v", remediate, sorted(RemediationActions))
	}
}
