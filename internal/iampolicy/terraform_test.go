package iampolicy

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/policy"
)

// TestTerraformModule parses every .tf file of deploy/terraform with
// HashiCorp's HCL parser, checks the resources the module must have, that
// its IAM policies are the generated documents, and that its table names
// are the ones keywarden uses by default.
func TestTerraformModule(t *testing.T) {
	dir := filepath.Join(deployDir, "terraform")
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .tf files in %s: %v", dir, err)
	}
	p := hclparse.NewParser()
	schema := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "resource", LabelNames: []string{"type", "name"}},
		{Type: "data", LabelNames: []string{"type", "name"}},
		{Type: "variable", LabelNames: []string{"name"}},
		{Type: "output", LabelNames: []string{"name"}},
		{Type: "locals"}, {Type: "terraform"},
	}}
	resources := map[string]bool{}
	var src strings.Builder
	for _, f := range files {
		file, diags := p.ParseHCLFile(f)
		if diags.HasErrors() {
			t.Fatalf("%s: %s", f, diags.Error())
		}
		content, diags := file.Body.Content(schema)
		if diags.HasErrors() {
			t.Fatalf("%s: unexpected top-level block: %s", f, diags.Error())
		}
		for _, b := range content.Blocks {
			if b.Type == "resource" {
				resources[b.Labels[0]+"."+b.Labels[1]] = true
			}
		}
		data, _ := os.ReadFile(f)
		src.Write(data)
	}
	for _, want := range []string{
		"aws_lambda_function.keywarden", "aws_cloudwatch_event_rule.schedule", "aws_cloudwatch_event_target.keywarden",
		"aws_lambda_permission.events", "aws_dynamodb_table.issues", "aws_dynamodb_table.meta", "aws_sns_topic.notifications",
		"aws_iam_role.runner", "aws_iam_role_policy.runner",
	} {
		if !resources[want] {
			t.Errorf("deploy/terraform lacks resource %s", want)
		}
	}
	// The policies are the generated files, not hand-written copies.
	refs := regexp.MustCompile(`file\("\$\{path\.module\}/\.\./iam/([a-z-]+\.json)"\)`).FindAllStringSubmatch(src.String(), -1)
	var got []string
	for _, r := range refs {
		got = append(got, r[1])
		if _, err := os.Stat(filepath.Join(deployDir, "iam", r[1])); err != nil {
			t.Errorf("terraform references %s: %v", r[1], err)
		}
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "audit-policy.json,runner-policy.json" {
		t.Errorf("terraform policy files: %v", got)
	}
	for _, k := range policy.Kinds {
		if name := config.DefaultTableNames[k]; !strings.Contains(src.String(), `= "`+name+`"`) {
			t.Errorf("terraform does not create %s's table %s", k, name)
		}
	}
	if !strings.Contains(src.String(), `"${var.name}-meta"`) {
		t.Error("terraform does not create the keywarden-meta table")
	}
	if !strings.Contains(src.String(), `runtime          = "provided.al2023"`) {
		t.Error("the Lambda must run on provided.al2023")
	}
}
