package kernel

import "testing"

// TestScratchClasses: a request of n values gets a class whose buffers
// hold n to 1.25·n values, classes grow with n, and a buffer allocated for
// a class is filed back under that same class.
func TestScratchClasses(t *testing.T) {
	prevClass := -1
	for n := MinScratch; n < 1<<26; n += n/37 + 1 {
		c, capacity := ScratchClass(n)
		if capacity < n || float64(capacity) > 1.25*float64(n) {
			t.Fatalf("n = %d: class %d holds %d values", n, c, capacity)
		}
		if c < prevClass {
			t.Fatalf("n = %d: class %d after class %d", n, c, prevClass)
		}
		prevClass = c
		if back := FileClass(capacity); back != c {
			t.Fatalf("n = %d: a buffer of %d values is filed under class %d, requests use %d", n, capacity, back, c)
		}
		if back := FileClass(n); back > c || (capacity == n) != (back == c) {
			t.Fatalf("n = %d: a buffer of exactly n values is filed under class %d, requests use %d", n, back, c)
		}
	}
}

// TestScratchSizes: GetScratch returns n values for small and large n, and
// a buffer given back serves a later request of its class.
func TestScratchSizes(t *testing.T) {
	for _, n := range []int{0, 1, MinScratch - 1, MinScratch, 5000, 1 << 20} {
		b := GetScratch(n)
		if len(b) != n {
			t.Fatalf("GetScratch(%d) has %d values", n, len(b))
		}
		PutScratch(b)
	}
}
