package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRemediationSection(t *testing.T) {
	for _, tc := range []struct {
		json string
		want int
	}{
		{`{"user_inactivekeys": {"inactive_criteria_days": 90}}`, DefaultMaxRemediationsPerRun},
		{`{"user_inactivekeys": {"inactive_criteria_days": 90}, "remediation": {"max_remediations_per_run": 3}}`, 3},
		{`{"user_inactivekeys": {"inactive_criteria_days": 90}, "remediation": {"max_remediations_per_run": "25"}}`, 25},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(tc.json), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(dir)
		if err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		if cfg.Remediation.MaxPerRun != tc.want {
			t.Errorf("%s: max_remediations_per_run %d, want %d", tc.json, cfg.Remediation.MaxPerRun, tc.want)
		}
	}
}
