package kernel

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The worker pool. kioku runs parallel kernels on one set of goroutines
// that is started lazily, the first time a kernel needs more than one
// thread, and then lives for the life of the process. It has
// GOMAXPROCS−1 workers (GOMAXPROCS as read at that first use); the calling
// goroutine always takes part, so a call uses at most GOMAXPROCS threads.
// An idle worker polls for new work for a short while (spinTime) before it
// blocks, so back-to-back calls do not pay for waking threads.
// The pool holds no per-call state: every call hands it a job with its own
// counters, so any number of goroutines may use it at once. When all
// workers are busy the caller simply does more of the job itself.

// tasker is a job split into numbered tasks.
type tasker interface {
	task(i int)
}

// job is one parallel call. Tasks are claimed through next; wg counts
// finished tasks, so the caller returns as soon as the last task is done
// even if a worker it asked for is still busy elsewhere. refs counts the
// goroutines holding j; the last to let go recycles it. failed holds the
// first panic of a task, which the caller re-raises after the join.
type job struct {
	t      tasker
	n      int32
	next   atomic.Int32
	refs   atomic.Int32
	wg     sync.WaitGroup
	failed atomic.Pointer[taskPanic]
}

// taskPanic is the value a task panicked with.
type taskPanic struct{ value any }

// run executes tasks of j until none are left. A task that panics is
// counted as done and its panic kept in j.failed (the first one wins);
// once a task has failed, the remaining tasks are skipped.
func (j *job) run() {
	for {
		i := j.next.Add(1) - 1
		if i >= j.n {
			return
		}
		if j.failed.Load() == nil {
			j.runTask(int(i))
		}
		j.wg.Done()
	}
}

// runTask runs task i, recording a panic instead of letting it unwind the
// goroutine (which, on a pool worker, would crash the process).
func (j *job) runTask(i int) {
	defer func() {
		if v := recover(); v != nil {
			j.failed.CompareAndSwap(nil, &taskPanic{v})
		}
	}()
	j.t.task(i)
}

func (j *job) release() {
	if j.refs.Add(-1) == 0 {
		j.t = nil
		jobPool.Put(j)
	}
}

var (
	poolOnce    sync.Once
	poolThreads int
	poolWork    chan *job
	jobPool     = sync.Pool{New: func() any { return new(job) }}
)

func startPool() {
	poolThreads = max(1, runtime.GOMAXPROCS(0))
	poolWork = make(chan *job, 4*poolThreads)
	for i := 1; i < poolThreads; i++ {
		go worker()
	}
}

// spinTime is how long an idle worker keeps polling for work before it
// blocks. Waking a blocked thread can take tens of microseconds on a
// virtual machine, longer than a mid-sized product takes, so during a
// stream of calls (an RNN step after step) the workers stay awake.
const spinTime = 200 * time.Microsecond

func worker() {
	for {
		var j *job
		select {
		case j = <-poolWork:
		default:
			j = spinForWork()
		}
		j.run()
		j.release()
	}
}

// spinForWork polls for a job for up to spinTime, yielding the processor
// between polls, then blocks until one arrives.
func spinForWork() *job {
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case j := <-poolWork:
			return j
		default:
		}
		if i%64 == 63 && time.Since(start) > spinTime {
			return <-poolWork
		}
		runtime.Gosched()
	}
}

// Threads returns the number of threads parallel kernels use by default:
// GOMAXPROCS as it was when the worker pool started (the pool starts on the
// first call that needs it, or on this call).
func Threads() int {
	poolOnce.Do(startPool)
	return poolThreads
}

// parallel runs t.task(i) for i in [0, n) on up to threads threads (the
// caller and threads−1 pool workers) and returns when all are done. If a
// task panics, the tasks not yet started are skipped and parallel panics
// with the same value in the caller's goroutine once the others are done.
func parallel(n, threads int, t tasker) {
	if n <= 0 {
		return
	}
	poolOnce.Do(startPool)
	helpers := min(threads, poolThreads, n) - 1
	if helpers <= 0 {
		for i := 0; i < n; i++ {
			t.task(i)
		}
		return
	}
	j := jobPool.Get().(*job)
	j.t, j.n = t, int32(n)
	j.next.Store(0)
	j.wg.Add(n)
	j.refs.Store(int32(helpers + 1))
	for ; helpers > 0; helpers-- {
		select {
		case poolWork <- j:
		default:
			// The queue is full of other calls' work: do ours ourselves.
			j.refs.Add(-int32(helpers))
			helpers = 0
		}
	}
	j.run()
	j.wg.Wait()
	failed := j.failed.Swap(nil)
	j.release()
	if failed != nil {
		panic(failed.value)
	}
}

type funcTasks struct {
	fn       func(lo, hi int)
	n, chunk int
}

func (f *funcTasks) task(i int) {
	lo := i * f.chunk
	f.fn(lo, min(lo+f.chunk, f.n))
}

// ParallelFor calls fn(lo, hi) on disjoint ranges covering [0, n), each at
// least grain long (except possibly the last), on the shared worker pool,
// and returns when every call has returned. Work smaller than two grains
// runs on the calling goroutine. fn must be safe to call concurrently on
// disjoint ranges. A panic in fn, on whichever goroutine, reaches the
// caller: ParallelFor panics with the same value in the caller's goroutine
// after the calls already running have returned (ranges not yet started
// are skipped).
func ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	threads := Threads()
	if threads == 1 || n < 2*grain {
		fn(0, n)
		return
	}
	chunks := min(threads, n/grain)
	chunk := (n + chunks - 1) / chunks
	t := funcTasksPool.Get().(*funcTasks)
	*t = funcTasks{fn: fn, n: n, chunk: chunk}
	parallel((n+chunk-1)/chunk, threads, t)
	*t = funcTasks{} // unused once parallel returns; drop fn's captures
	funcTasksPool.Put(t)
}

// funcTasksPool recycles ParallelFor's tasks, so that a call allocates
// nothing beyond what fn captures.
var funcTasksPool = sync.Pool{New: func() any { return new(funcTasks) }}
