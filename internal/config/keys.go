package config

import (
	"github.com/keywarden/keywarden/internal/policy"
)

// Key is one key the loader accepts: its file, the dotted path of its
// section ("" at the top of the file) and its name there.
type Key struct {
	File, Section, Name string
}

// Path is the key's dotted path in its file.
func (k Key) Path() string {
	if k.Section == "" {
		return k.Name
	}
	return k.Section + "." + k.Name
}

// Keys lists every key the loader accepts (Hammer's ignored ones included),
// for the documentation test: examples/README.md documents each.
func Keys() []Key {
	var ks []Key
	add := func(file, section string, names ...string) {
		for _, n := range names {
			ks = append(ks, Key{file, section, n})
		}
	}
	add(ConfigFile, "", "aws", "store", "remediation", "slack", "jira", "sns", whitelistingURLKey)
	add(ConfigFile, "aws", awsKeys...)
	add(ConfigFile, "aws", hammerAWSKeys...)
	add(ConfigFile, "aws.organization", organizationKeys...)
	add(ConfigFile, "store", storeKeys...)
	add(ConfigFile, "remediation", remediationKeys...)
	for _, k := range policy.Kinds {
		add(ConfigFile, "", string(k))
		add(ConfigFile, string(k), kindKeys(k)...)
		add(ConfigFile, string(k), notifyKindKeys...)
	}
	add(ConfigFile, "slack", slackKeys...)
	add(ConfigFile, "slack", hammerSlackKeys...)
	add(ConfigFile, "jira", jiraKeys...)
	add(ConfigFile, "sns", snsKeys...)
	add(TicketOwnersFile, "", ownerKeys...)
	add(TicketOwnersFile, "", "account", "bu")
	add(WhitelistFile, "", commentKey)
	add(WhitelistFile, "", whitelistEntryKeys...) // of an entry written as an object
	return ks
}

// whitelistEntryKeys are the keys of a whitelist.json entry written as an
// object (an exemption with an end) instead of a plain string.
var whitelistEntryKeys = []string{"id", "expires", "owner", "reason"}
