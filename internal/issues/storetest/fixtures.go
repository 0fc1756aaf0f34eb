package storetest

import (
	"testing"
	"time"

	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/policy"
)

// The fixtures other contract suites (journal, deliveries) share, so that
// every suite's users and clock are the same.

// AsOf is the suites' clock.
var AsOf = asOf

// Alice has one finding of each kind; Bob a warning (5 days left); Carol is
// exempt by tag.
func Alice() inventory.User { return alice() }

// Bob has a key last used 85 days ago: a warning, 5 days left.
func Bob() inventory.User { return bob() }

// Carol is exempt by the KeyAutoExpire=false tag.
func Carol() inventory.User { return carol() }

// Scan is one whole run for one account: evaluate the suites' rules,
// reconcile with the live issues, Apply.
func Scan(t *testing.T, s issues.Store, facts *inventory.Facts, ex policy.Exemptions, at time.Time) *issues.Changes {
	t.Helper()
	return scan(t, s, facts, ex, at)
}
