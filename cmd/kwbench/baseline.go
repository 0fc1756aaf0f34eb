package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/keywarden/keywarden/internal/accounts"
	"github.com/keywarden/keywarden/internal/inventory"
	"github.com/keywarden/keywarden/internal/policy"
)

// perKey is the seeds' strategy, for comparison: per account, sequentially,
// ListUsers (pages of 100, the default), then for every user ListAccessKeys,
// GetAccessKeyLastUsed for each key, GetLoginProfile; the same account
// concurrency, the same sessions (AssumeRole) and retries as keywarden.
func perKey(ctx context.Context, sess *accounts.Sessions, accts []inventory.Account, concurrency int, rules []policy.Rule) (findings int, failed int, err error) {
	var nf, nfail atomic.Int64
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for _, a := range accts {
		wg.Add(1)
		sem <- struct{}{}
		go func(a inventory.Account) {
			defer func() { <-sem; wg.Done() }()
			facts, err := perKeyAccount(ctx, sess, a)
			if err != nil {
				nfail.Add(1)
				return
			}
			nf.Add(int64(len(policy.Evaluate(facts, rules, policy.Exemptions{}, asOf))))
		}(a)
	}
	wg.Wait()
	return int(nf.Load()), int(nfail.Load()), ctx.Err()
}

func perKeyAccount(ctx context.Context, sess *accounts.Sessions, a inventory.Account) (*inventory.Facts, error) {
	c, err := sess.IAM(ctx, a)
	if err != nil {
		return nil, err
	}
	facts := &inventory.Facts{Account: a}
	p := iam.NewListUsersPaginator(c, &iam.ListUsersInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range page.Users {
			usr := inventory.User{Name: aws.ToString(u.UserName), ARN: aws.ToString(u.Arn), Created: aws.ToTime(u.CreateDate)}
			keys, err := c.ListAccessKeys(ctx, &iam.ListAccessKeysInput{UserName: u.UserName})
			if err != nil {
				return nil, fmt.Errorf("list access keys: %w", err)
			}
			for _, k := range keys.AccessKeyMetadata {
				key := inventory.AccessKey{ID: aws.ToString(k.AccessKeyId), Status: string(k.Status), Created: aws.ToTime(k.CreateDate)}
				lu, err := c.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: k.AccessKeyId})
				if err != nil {
					return nil, fmt.Errorf("get access key last used: %w", err)
				}
				if lu.AccessKeyLastUsed != nil {
					key.LastUsed = lu.AccessKeyLastUsed.LastUsedDate
				}
				usr.Keys = append(usr.Keys, key)
			}
			lp, err := c.GetLoginProfile(ctx, &iam.GetLoginProfileInput{UserName: u.UserName})
			if err == nil {
				usr.Password = &inventory.Password{Enabled: true, Created: aws.ToTime(lp.LoginProfile.CreateDate), LastUsed: u.PasswordLastUsed}
			} else if !inventory.IsNoSuchEntity(err) {
				return nil, fmt.Errorf("get login profile: %w", err)
			}
			facts.Users = append(facts.Users, usr)
		}
	}
	return facts, nil
}
