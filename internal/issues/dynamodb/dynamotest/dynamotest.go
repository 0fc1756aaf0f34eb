// Package dynamotest gives tests a DynamoDB-compatible endpoint: dynalite
// (which .ci/run starts on loopback and exports as
// KEYWARDEN_TEST_DYNAMODB_ENDPOINT) behind a proxy that adds the one action
// dynalite lacks, TransactWriteItems. It is test infrastructure only.
package dynamotest

import (
	"os"
	"sort"
	"sync"
	"testing"
)

// EndpointEnv names the DynamoDB-compatible server the tests use.
const EndpointEnv = "KEYWARDEN_TEST_DYNAMODB_ENDPOINT"

var (
	once     sync.Once
	proxy    *txProxy
	proxyURL string
)

// Endpoint returns the URL of the proxy in front of the test server. Without
// an endpoint the test skips on a developer's machine, and fails in CI
// (KEYWARDEN_CI or CI set): a DynamoDB store that was never tested must not
// pass as green.
func Endpoint(t testing.TB) string {
	t.Helper()
	ep := os.Getenv(EndpointEnv)
	if ep == "" {
		if os.Getenv("KEYWARDEN_CI") != "" || os.Getenv("CI") != "" {
			t.Fatalf("%s is not set in CI: .ci/run must start dynalite and export it", EndpointEnv)
		}
		t.Skipf("%s is not set: start dynalite (see .ci/run) to run the DynamoDB tests", EndpointEnv)
	}
	once.Do(func() {
		p, s := newTxProxy(ep)
		proxy, proxyURL = p, s.URL // the server lives as long as the test binary
	})
	return proxyURL
}

// Transactions is how many TransactWriteItems the proxy has served.
func Transactions() int {
	if proxy == nil {
		return 0
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	return proxy.transactions
}

// Actions are the DynamoDB API actions the proxy has served (e.g. "GetItem").
func Actions() []string {
	if proxy == nil {
		return nil
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	out := make([]string, 0, len(proxy.actions))
	for a := range proxy.actions {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}
