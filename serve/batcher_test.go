package serve

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestBatcherSurvivesPanic: a batch whose run panics fails its requests
// with an error, and the batcher goes on serving the next ones.
func TestBatcherSurvivesPanic(t *testing.T) {
	b := newBatcher(8, time.Millisecond, func(_ context.Context, items []int) ([]int, error) {
		if items[0] < 0 {
			panic("boom")
		}
		out := make([]int, len(items))
		for i, x := range items {
			out[i] = 2 * x
		}
		return out, nil
	})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { b.loop(stop); close(done) }()
	defer func() { close(stop); <-done }()
	if _, err := b.submit(context.Background(), "", []int{-1}); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("a panicking batch: %v", err)
	}
	if got, err := b.submit(context.Background(), "", []int{3, 4}); err != nil || got[0] != 6 || got[1] != 8 {
		t.Fatalf("after the panic: %v %v", got, err)
	}
}

// TestBatcherKeys: requests of different keys never share a batch, and
// every request gets its own results in order.
func TestBatcherKeys(t *testing.T) {
	var mu sync.Mutex
	var batches [][]int
	b := newBatcher(64, 20*time.Millisecond, func(_ context.Context, items []int) ([]int, error) {
		mu.Lock()
		batches = append(batches, append([]int(nil), items...))
		mu.Unlock()
		return items, nil
	})
	stop := make(chan struct{})
	go b.loop(stop)
	defer close(stop)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := []string{"even", "odd"}[i%2]
			got, err := b.submit(context.Background(), key, []int{i, i + 100})
			if err != nil || got[0] != i || got[1] != i+100 {
				t.Errorf("request %d: %v %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	for _, batch := range batches {
		for _, x := range batch {
			if x%2 != batch[0]%2 {
				t.Fatalf("batch %v mixes keys", batch)
			}
		}
	}
}
