package loadgen

import (
	"context"
	"sync"
	"time"
)

// Schedule is a fixed-rate send schedule: send i is due at Start + i·Interval,
// whatever happened to the sends before it. Measuring each send's latency
// from its due time rather than from when it actually left is what keeps an
// open-loop measurement free of coordinated omission: when the system under
// test stalls, the sends that should have left meanwhile count the stall in
// their latency instead of quietly not happening.
type Schedule struct {
	Start    time.Time
	Interval time.Duration
}

// NewSchedule returns the schedule of rate sends per second from start.
func NewSchedule(start time.Time, rate float64) Schedule {
	return Schedule{Start: start, Interval: time.Duration(float64(time.Second) / rate)}
}

// At is when send i is due.
func (s Schedule) At(i int) time.Time { return s.Start.Add(time.Duration(i) * s.Interval) }

// Due is how many sends are due at now (send 0 is due at Start).
func (s Schedule) Due(now time.Time) int {
	if now.Before(s.Start) {
		return 0
	}
	return int(now.Sub(s.Start)/s.Interval) + 1
}

// Count is the number of sends the schedule holds in d.
func (s Schedule) Count(d time.Duration) int { return int(d / s.Interval) }

// OpenLoop calls fire for every send of rate per second during d, each on
// its due time, from up to workers goroutines, and returns when every call
// has returned. fire gets the send's number and due time; latency is to be
// measured from that due time. When every worker is busy, due sends queue
// (their latency grows) rather than being skipped or delayed in the
// schedule. The loop stops issuing sends when ctx ends.
func OpenLoop(ctx context.Context, rate float64, d time.Duration, workers int, fire func(ctx context.Context, i int, due time.Time)) {
	type job struct {
		i   int
		due time.Time
	}
	sched := NewSchedule(time.Now(), rate)
	total := sched.Count(d)
	// The queue holds the whole run, so the scheduler itself never blocks
	// on busy workers and keeps to its clock.
	jobs := make(chan job, total)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				fire(ctx, j.i, j.due)
			}
		})
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for next := 0; next < total && ctx.Err() == nil; {
		due := min(sched.Due(time.Now()), total)
		for ; next < due; next++ {
			jobs <- job{next, sched.At(next)}
		}
		if next < total {
			timer.Reset(time.Until(sched.At(next)))
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
	}
	close(jobs)
	wg.Wait()
}

// ClosedLoop runs fire from workers goroutines, each calling it again as
// soon as it returns, until d has passed or ctx ends. It returns how long
// the loop ran (from the start to the last call's return).
func ClosedLoop(ctx context.Context, workers int, d time.Duration, fire func(ctx context.Context, worker int)) time.Duration {
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				fire(ctx, w)
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}
