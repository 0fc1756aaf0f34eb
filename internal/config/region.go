package config

import (
	"fmt"
	"regexp"
)

// regionPattern is the union of the AWS partitions' region patterns (aws,
// aws-cn, aws-us-gov, aws-iso, aws-iso-b, aws-iso-e, aws-iso-f, aws-eusc):
// a two-letter area, one or more words, a number (us-east-1, cn-north-1,
// us-gov-west-1, us-isob-east-1, eusc-de-east-1).
var regionPattern = regexp.MustCompile(`^(us|eu|ap|sa|ca|me|af|il|mx|cn|eusc)(-[a-z]+)+-[0-9]+$`)

// missingDash finds a region written without its last dash (us-east1).
var missingDash = regexp.MustCompile(`^([a-z]+(-[a-z]+)+?)([0-9]+)$`)

// ValidRegion reports whether s is shaped like an AWS region name.
func ValidRegion(s string) bool { return regionPattern.MatchString(s) }

// RegionFix is the fix to suggest for a value ValidRegion refuses.
func RegionFix(s string) string {
	if m := missingDash.FindStringSubmatch(s); m != nil {
		if c := m[1] + "-" + m[3]; ValidRegion(c) {
			return fmt.Sprintf("did you mean %q? Write a region such as us-east-1", c)
		}
	}
	return "write a region such as us-east-1 or eu-central-1"
}

// region reports (as a problem) a region that is not one.
func (l *loader) region(file, key, s string) bool {
	if s == "" || ValidRegion(s) {
		return true
	}
	l.add(file, key, fmt.Sprintf("%q is not an AWS region", s), RegionFix(s))
	return false
}

// IsAccountID reports whether id is 12 digits (an AWS account ID).
func IsAccountID(id string) bool { return isAccountID(id) }
