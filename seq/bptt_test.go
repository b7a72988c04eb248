package seq

import (
	"fmt"
	"testing"
)

// TestBPTTTimeMajor: TimeMajor holds Chunk's tokens in time-major order,
// for full chunks and the shorter last one, and panics out of range.
func TestBPTTTimeMajor(t *testing.T) {
	ids := make([]int, 24)
	for i := range ids {
		ids[i] = 100 + i
	}
	for _, tc := range []struct{ batch, steps, chunks int }{{3, 3, 3}, {4, 2, 3}, {1, 5, 5}, {2, 11, 1}} {
		t.Run(fmt.Sprintf("batch %d steps %d", tc.batch, tc.steps), func(t *testing.T) {
			b, err := NewBPTT(ids, tc.batch, tc.steps)
			if err != nil {
				t.Fatal(err)
			}
			if b.Chunks() != tc.chunks || b.Batch() != tc.batch {
				t.Fatalf("%d chunks of batch %d; want %d of %d", b.Chunks(), b.Batch(), tc.chunks, tc.batch)
			}
			tokens := 0
			for k := range b.Chunks() {
				in, tg := b.Chunk(k)
				fin, ftg := b.TimeMajor(k)
				T := len(in[0])
				if len(fin) != T*tc.batch || len(ftg) != len(fin) {
					t.Fatalf("chunk %d: %d time-major ids for %d rows of %d", k, len(fin), tc.batch, T)
				}
				for r := range in {
					for s := range T {
						if fin[s*tc.batch+r] != in[r][s] || ftg[s*tc.batch+r] != tg[r][s] {
							t.Fatalf("chunk %d row %d step %d: time-major %d→%d, Chunk %d→%d", k, r, s, fin[s*tc.batch+r], ftg[s*tc.batch+r], in[r][s], tg[r][s])
						}
					}
				}
				tokens += len(fin)
			}
			if tokens != b.Tokens() {
				t.Fatalf("%d tokens in the chunks, Tokens says %d", tokens, b.Tokens())
			}
		})
	}
	b, _ := NewBPTT(ids, 2, 5)
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("TimeMajor out of range did not panic")
		}
	}()
	b.TimeMajor(b.Chunks())
}
