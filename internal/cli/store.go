package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/keywarden/keywarden/internal/config"
	"github.com/keywarden/keywarden/internal/issues"
	"github.com/keywarden/keywarden/internal/issues/dynamodb"
	"github.com/keywarden/keywarden/internal/issues/sqlite"
	"github.com/keywarden/keywarden/internal/notify"
	"github.com/keywarden/keywarden/internal/policy"
	"github.com/keywarden/keywarden/internal/remediate"
)

// openIssueStore opens the issue store config.json's store section names:
// SQLite (--db, else store.path) or DynamoDB (store.region, else
// aws.region; store.endpoint; store.table_prefix; store.create_tables; each
// kind's ddb.table_name). Both implement issues.Locker too.
func openIssueStore(ctx context.Context, g *globals, cfg *config.Config) (issues.Store, error) {
	if cfg.Store.Type != config.StoreDynamoDB {
		return openStore(ctx, g, cfg)
	}
	// store.region, else aws.region; the same credential chain as the scan.
	ac, err := awsConfig(ctx, g, &scanFlags{region: cfg.Store.Region}, cfg)
	if err != nil {
		return nil, fmt.Errorf("issue store: %w", err)
	}
	tables := map[policy.Kind]string{}
	for k, kc := range cfg.Kinds {
		if kc != nil && kc.TableName != "" {
			tables[k] = kc.TableName
		}
	}
	return dynamodb.Open(ctx, ac, cfg.Store.Endpoint, dynamodb.Options{
		Tables:       tables,
		TablePrefix:  cfg.Store.TablePrefix,
		CreateTables: cfg.Store.CreateTables,
	})
}

// openReadingStore opens the configured store for a command that only
// reads it (issues list, show, export; journal): a SQLite store whose file
// or directory is read-only is still read (sqlite.OpenReader).
func openReadingStore(ctx context.Context, g *globals, cfg *config.Config) (issues.Store, error) {
	if cfg.Store.Type == config.StoreDynamoDB {
		return openIssueStore(ctx, g, cfg)
	}
	// Reading never creates a store: a missing file is said, not made.
	path := storePath(g, cfg)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && !strings.HasPrefix(path, "file:") && path != ":memory:" {
		return nil, fmt.Errorf("no issue store at %s: run keywarden scan here first, or point --db (or store.path in config.json) at the store", path)
	}
	return sqlite.OpenReader(ctx, path)
}

// reportStore is what report works on: the issues and their notification
// delivery state.
type reportStore interface {
	issues.Store
	notify.Store
}

// journalStore is what remediate, rollback and journal work on: the issues
// and the remediation journal.
type journalStore interface {
	issues.Store
	remediate.Journal
}

// openReportStore opens the configured store (openIssueStore) for report.
func openReportStore(ctx context.Context, g *globals, cfg *config.Config) (reportStore, error) {
	st, err := openIssueStore(ctx, g, cfg)
	if err != nil {
		return nil, err
	}
	rs, ok := st.(reportStore)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the %s issue store keeps no notification delivery state: report cannot run on it", storeType(cfg))
	}
	return rs, nil
}

// openJournalStore opens the configured store (openIssueStore) for
// remediate, rollback and journal.
func openJournalStore(ctx context.Context, g *globals, cfg *config.Config) (journalStore, error) {
	st, err := openIssueStore(ctx, g, cfg)
	if err != nil {
		return nil, err
	}
	return asJournalStore(st, cfg)
}

// asJournalStore is st with its remediation journal, or an error (closing
// st) when its backend keeps none.
func asJournalStore(st issues.Store, cfg *config.Config) (journalStore, error) {
	js, ok := st.(journalStore)
	if !ok {
		st.Close()
		return nil, fmt.Errorf("the %s issue store keeps no remediation journal: remediate, rollback and journal cannot run on it", storeType(cfg))
	}
	return js, nil
}

func storeType(cfg *config.Config) string {
	if cfg.Store.Type == "" {
		return "sqlite"
	}
	return string(cfg.Store.Type)
}

// configAndStore loads the configuration and opens its issue store with
// open (openIssueStore to write, openReadingStore to read): the first steps
// of every command that works on the store.
func configAndStore(ctx context.Context, g *globals, open func(context.Context, *globals, *config.Config) (issues.Store, error)) (*config.Config, issues.Store, error) {
	cfg, err := loadConfig(g)
	if err != nil {
		return nil, nil, err
	}
	st, err := open(ctx, g, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, st, nil
}
