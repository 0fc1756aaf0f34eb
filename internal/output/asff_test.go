package output

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestASFFGolden(t *testing.T) {
	fs := ToASFF(findings(), ASFFOptions{Region: "eu-west-1", Account: "999999999999", AsOf: asOf, Import: true})
	var b bytes.Buffer
	if err := WriteASFF(&b, fs); err != nil {
		t.Fatal(err)
	}
	golden(t, "findings.asff.json", b.Bytes())
	// Imported, the key ID is the resource's ID (Security Hub needs it);
	// text masks it.
	if !bytes.Contains(b.Bytes(), []byte(`"Id": "AKIAIOSFODNN7EXAMPLE"`)) || !bytes.Contains(b.Bytes(), []byte("access key AKIA…MPLE")) {
		t.Error("resource ID must be the key ID, the description must mask it")
	}
	want := map[string]string{
		"keywarden/123456789012/user_inactivekeys/AKIAIOSFODNN7EXAMPLE": "MEDIUM",
		"keywarden/123456789012/user_keysrotation/bob/access_key_2":     "LOW",
		"keywarden/123456789012/user_inactivepasswords/carol":           "INFORMATIONAL",
	}
	for _, f := range fs {
		if want[f.Id] != f.Severity.Label {
			t.Errorf("%s: severity %s, want %s", f.Id, f.Severity.Label, want[f.Id])
		}
		if f.ProductArn != "arn:aws:securityhub:eu-west-1:999999999999:product/999999999999/default" {
			t.Errorf("product ARN %s", f.ProductArn)
		}
	}
	// Stable across runs: a later as-of changes UpdatedAt only.
	later := ToASFF(findings(), ASFFOptions{Region: "eu-west-1", Account: "999999999999", AsOf: asOf.AddDate(0, 0, 1), Import: true})
	for i := range fs {
		if later[i].Id != fs[i].Id || later[i].CreatedAt != fs[i].CreatedAt || later[i].UpdatedAt == fs[i].UpdatedAt {
			t.Errorf("finding %d not stable across runs: %s/%s vs %s/%s", i, fs[i].Id, fs[i].CreatedAt, later[i].Id, later[i].CreatedAt)
		}
	}
	var arr []map[string]any
	if err := json.Unmarshal(b.Bytes(), &arr); err != nil || len(arr) != 3 {
		t.Fatalf("not a JSON array of 3: %v", err)
	}
	// Printed (-o asff), every field masks it unless ShowKeyIDs.
	var p bytes.Buffer
	if err := WriteASFF(&p, ToASFF(findings(), ASFFOptions{Region: "eu-west-1", Account: "999999999999", AsOf: asOf})); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Bytes(), []byte("AKIAIOSFODNN7EXAMPLE")) || !bytes.Contains(p.Bytes(), []byte(`"Id": "AKIA…MPLE"`)) {
		t.Errorf("-o asff shows the key ID in full:\n%s", p.Bytes())
	}
}
