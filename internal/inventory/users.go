package inventory

import (
	"sync"
	"sync/atomic"
)

// atomicCount is a counter safe for concurrent use.
type atomicCount struct{ n atomic.Int64 }

func (c *atomicCount) add(n int) { c.n.Add(int64(n)) }
func (c *atomicCount) load() int { return int(c.n.Load()) }

// readUsers runs read on every user that pick selects (nil: all), at most n
// at once (default 8), and returns users without those read reported gone
// (deleted since they were listed). The first error wins; the others still
// finish.
func readUsers(users []User, n int, pick func(*User) bool, read func(*User) (gone bool, err error)) ([]User, error) {
	if n <= 0 {
		n = DefaultAccountConcurrency
	}
	sem := make(chan struct{}, n)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
		gone  map[int]bool
	)
	for i := range users {
		u := &users[i]
		if pick != nil && !pick(u) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			g, err := read(u)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && first == nil {
				first = err
			}
			if g {
				if gone == nil {
					gone = map[int]bool{}
				}
				gone[i] = true
			}
		}(i)
	}
	wg.Wait()
	if first != nil || len(gone) == 0 {
		return users, first
	}
	kept := users[:0]
	for i, u := range users {
		if !gone[i] {
			kept = append(kept, u)
		}
	}
	return kept, nil
}
