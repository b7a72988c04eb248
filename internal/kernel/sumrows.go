package kernel

// SumRowsInto adds the rows of the rows×n matrix g into out, splitting
// the columns across the worker pool when g is large (each column is
// still summed in row order, whatever the number of threads).
func SumRowsInto[T Float](out, g []T, rows, n int) {
	grain := max(16, (1<<16)/max(rows, 1))
	ParallelFor(n, grain, func(lo, hi int) {
		for r := 0; r < rows; r++ {
			Axpy(1, g[r*n+lo:r*n+hi], out[lo:hi])
		}
	})
}
