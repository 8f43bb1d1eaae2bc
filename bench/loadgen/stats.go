// Package loadgen drives Switchboard (or a limit probe that speaks the same
// protocols) for `make bench`: signed Telegram webhooks sent in a closed or
// an open loop, graphql-transport-ws subscribers that time each message from
// its send to its arrival, a GraphQL client, and the statistics the table is
// made of.
package loadgen

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Recorder collects latency samples from many goroutines. Samples are kept
// whole and sorted on demand: a run records at most a few hundred thousand,
// and exact percentiles need no bucket arithmetic to be trusted.
type Recorder struct {
	mu      sync.Mutex
	samples []time.Duration
}

// Add records one sample.
func (r *Recorder) Add(d time.Duration) {
	r.mu.Lock()
	r.samples = append(r.samples, d)
	r.mu.Unlock()
}

// Len is the number of samples so far.
func (r *Recorder) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.samples)
}

// Dist returns the samples so far, sorted.
func (r *Recorder) Dist() Dist {
	r.mu.Lock()
	s := slices.Clone(r.samples)
	r.mu.Unlock()
	slices.Sort(s)
	return Dist(s)
}

// Dist is a sorted set of latency samples.
type Dist []time.Duration

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100): the
// smallest sample that at least p% of the samples do not exceed. Nearest rank
// never interpolates, so a p99 is always a latency that was observed. It is
// 0 for no samples.
func (d Dist) Percentile(p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(d))))
	rank = min(max(rank, 1), len(d))
	return d[rank-1]
}

// Summary is one figure over repeated runs: the median and the spread.
type Summary struct {
	Median, Min, Max float64
	N                int
}

// Summarize returns the median (the mean of the middle two for an even
// count) and the range of xs. NaNs (a run that could not measure the
// figure) are left out; N says how many values remained.
func Summarize(xs []float64) Summary {
	v := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return Summary{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	slices.Sort(v)
	n := len(v)
	med := v[n/2]
	if n%2 == 0 {
		med = (v[n/2-1] + v[n/2]) / 2
	}
	return Summary{Median: med, Min: v[0], Max: v[n-1], N: n}
}

// Ms converts a duration to float milliseconds, the unit of the table.
func Ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
