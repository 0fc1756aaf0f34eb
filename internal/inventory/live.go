package inventory

import (
	"context"
	"errors"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

// LiveSource is the AWS exact path: every user, key and login profile read
// live (ListUsers, ListAccessKeys, GetAccessKeyLastUsed, GetLoginProfile),
// the tags from GetAccountAuthorizationDetails pages (1,000 users a call,
// not ListUserTags per user). Several calls per user: use it for small
// accounts, to cross-check the fast path, or when the credential report is
// unavailable.
type LiveSource struct {
	Clients Clients
	// Concurrency: calls in flight within one account (default
	// DefaultAccountConcurrency), adaptive as in ReportSource.
	Concurrency int
}

// Collect implements Source.
func (s *LiveSource) Collect(ctx context.Context, a Account) (*Facts, error) {
	c, err := s.Clients(ctx, a)
	if err != nil {
		return nil, wrap(a, "connect", err)
	}
	lim := NewLimiter(s.Concurrency)
	c = lim.Reader(c)
	calls := &counter{}
	var users []User
	p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{})
	for p.HasMorePages() {
		calls.add("ListUsers")
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, wrap(a, "list users", err)
		}
		if page.IsTruncated && aws.ToString(page.Marker) == "" {
			// The paginator would stop here as if this were the last page.
			return nil, wrap(a, "list users", errors.New("a page says more users follow but gives no Marker: the user list is incomplete"))
		}
		for _, u := range page.Users {
			if u.UserName == nil {
				return nil, wrap(a, "list users", errors.New("a user without UserName: the answer is incomplete"))
			}
			usr := User{Name: aws.ToString(u.UserName), ARN: aws.ToString(u.Arn), Created: aws.ToTime(u.CreateDate).UTC()}
			if u.PasswordLastUsed != nil {
				t := u.PasswordLastUsed.UTC()
				usr.Password = &Password{LastUsed: &t}
			}
			users = append(users, usr)
		}
	}
	if a.ID == "" && len(users) > 0 {
		a.ID = accountFromARN(users[0].ARN)
	}
	tags, err := (&ReportSource{}).liveUsers(ctx, c, a, calls)
	if err != nil {
		return nil, err
	}
	kept, err := readUsers(users, s.Concurrency, nil, func(u *User) (bool, error) {
		u.Tags = tags[u.Name].tags
		err := ReadUser(ctx, c, a, u, calls)
		if IsNoSuchEntity(err) {
			return true, nil
		}
		return false, err
	})
	if err != nil {
		return nil, err
	}
	// Complete: ListUsers is the live set of users, every page checked.
	return &Facts{Account: a, Users: kept, Complete: true, Calls: calls.snapshot(), Throttled: lim.Throttled()}, nil
}

// ReadUser fills u (Name set; Password.LastUsed may be preset from
// ListUsers/GetUser) with its live keys, their last use and its login
// profile; its tags come from GetAccountAuthorizationDetails. A
// NoSuchEntity error means the user is gone.
func ReadUser(ctx context.Context, c IAMReader, a Account, u *User, calls *counter) error {
	keys, err := listKeys(ctx, c, a, u.Name, calls)
	if err != nil {
		return err
	}
	for i := range keys {
		keys[i].Slot = i + 1
		if err := keyLastUsed(ctx, c, a, &keys[i], calls); err != nil {
			return err
		}
	}
	u.Keys = keys
	calls.add("GetLoginProfile")
	lp, err := c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: aws.String(u.Name)})
	switch {
	case IsNoSuchEntity(err):
		u.Password = nil
	case err != nil:
		return wrap(a, "get login profile of "+u.Name, err)
	case lp.LoginProfile == nil:
		return wrap(a, "get login profile of "+u.Name, errors.New("the answer has no LoginProfile"))
	default:
		p := &Password{Enabled: true, Created: aws.ToTime(lp.LoginProfile.CreateDate).UTC()}
		if u.Password != nil {
			p.LastUsed = u.Password.LastUsed
		}
		u.Password = p
	}
	return nil
}

func accountFromARN(arn string) string {
	// arn:aws:iam::123456789012:user/name
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) < 6 {
		return ""
	}
	return parts[4]
}
