package config

import "testing"

func TestValidRegion(t *testing.T) {
	for _, r := range []string{"us-east-1", "eu-central-1", "ap-southeast-4", "cn-north-1", "us-gov-west-1", "us-isob-east-1", "il-central-1", "mx-central-1"} {
		if !ValidRegion(r) {
			t.Errorf("ValidRegion(%q) = false", r)
		}
	}
	for _, r := range []string{"us-east1", "useast-1", "US-EAST-1", "us-east-1a", "east-1", "", "local"} {
		if ValidRegion(r) {
			t.Errorf("ValidRegion(%q) = true", r)
		}
	}
	if got, want := RegionFix("us-east1"), `did you mean "us-east-1"? Write a region such as us-east-1`; got != want {
		t.Errorf("RegionFix(us-east1) = %q, want %q", got, want)
	}
}
