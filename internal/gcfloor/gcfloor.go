// Package gcfloor gives the garbage collector a minimum heap goal.
//
// With GOGC=100 the runtime collects once the heap has grown by as much as
// was live after the last collection. A server whose live heap is small
// (tens of megabytes, while it answers requests that each allocate a few
// hundred kilobytes) then collects many times a second: the collector's own
// work was about a quarter of the server's CPU on the inbox page, 3 % with
// the floor, and the page was served 25 % faster (PERFORMANCE.md, item 31).
// The floor lets the heap grow to at least live+floor before the next
// cycle; once the live heap is larger than the floor, GOGC applies
// unchanged, so a replica holding thousands of sockets keeps the heap (and
// the memory per socket) it had. This is the minimum heap target Go itself
// lacks (proposed in golang/go#23044), set after every cycle through
// debug.SetGCPercent.
package gcfloor

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
)

// Percent is the GOGC that makes the next heap goal at least live+floor
// bytes, and never less than base: live × (1 + Percent/100) ≥ live + floor.
func Percent(base int, floor, live uint64) int {
	if floor == 0 {
		return base
	}
	// A heap with nothing live yet (start-up) counts as one megabyte, so
	// the first goal is the floor's size rather than unbounded.
	live = max(live, 1<<20)
	p := math.Ceil(float64(floor) * 100 / float64(live))
	return int(max(float64(base), min(p, 1e6)))
}

// Floor keeps the heap goal at or above its size; Stop ends that.
type Floor struct {
	size uint64
	base int

	mu      sync.Mutex
	stopped bool
	sample  []metrics.Sample
	// percent is the GOGC it set last.
	percent int
}

// Start sets the floor to size bytes and keeps it after every collection.
// It returns nil, and changes nothing, when size is 0 or when GOGC is "off"
// (the operator chose a memory limit alone); a numeric GOGC is the base
// the floor never goes below.
func Start(size uint64) *Floor {
	base := 100
	if s := strings.TrimSpace(os.Getenv("GOGC")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return nil // "off", or a value the runtime itself ignores
		}
		base = n
	}
	if size == 0 {
		return nil
	}
	f := &Floor{size: size, base: base, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	f.adjust()
	f.watch()
	return f
}

// watch runs adjust after the next collection: a cleanup runs once the
// object it is attached to has been found unreachable, which only a
// collection does, and each run attaches the next.
func (f *Floor) watch() {
	runtime.AddCleanup(new([16]byte), func(f *Floor) {
		if f.adjust() {
			f.watch()
		}
	}, f)
}

// adjust sets GOGC from the live heap the last collection marked; false
// once the floor is stopped.
func (f *Floor) adjust() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.stopped {
		return false
	}
	metrics.Read(f.sample)
	var live uint64
	if f.sample[0].Value.Kind() == metrics.KindUint64 {
		live = f.sample[0].Value.Uint64()
	}
	if p := Percent(f.base, f.size, live); p != f.percent {
		debug.SetGCPercent(p)
		f.percent = p
	}
	return true
}

// Percent returns the GOGC the floor set last.
func (f *Floor) Percent() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.percent
}

// Stop gives GOGC back its base value.
func (f *Floor) Stop() {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.stopped {
		f.stopped = true
		debug.SetGCPercent(f.base)
	}
}
