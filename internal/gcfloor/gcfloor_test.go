package gcfloor

import (
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mb = 1 << 20
	for _, tc := range []struct {
		name        string
		base        int
		floor, live uint64
		want        int
	}{
		{"no floor", 100, 0, 10 * mb, 100},
		{"small heap grows by the floor", 100, 64 * mb, 16 * mb, 400},
		{"rounded up", 100, 64 * mb, 15 * mb, 427},
		{"heap past the floor keeps GOGC", 100, 64 * mb, 200 * mb, 100},
		{"operator's GOGC is the least", 300, 64 * mb, 32 * mb, 300},
		{"nothing live yet counts as a megabyte", 100, 64 * mb, 0, 6400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Percent(tc.base, tc.floor, tc.live)
			if got != tc.want {
				t.Fatalf("Percent(%d, %d, %d) = %d, want %d", tc.base, tc.floor, tc.live, got, tc.want)
			}
			if tc.floor > 0 && tc.live > 0 {
				if goal := float64(tc.live) * (1 + float64(got)/100); goal < float64(tc.live+tc.floor) {
					t.Fatalf("goal %.0f is under live+floor %d", goal, tc.live+tc.floor)
				}
			}
		})
	}
}

// The floor follows the live heap from one collection to the next, and
// Stop gives GOGC back.
func TestFloorFollowsCollections(t *testing.T) {
	t.Setenv("GOGC", "")
	defer debug.SetGCPercent(debug.SetGCPercent(100))

	const floor = 1 << 30 // far above this test binary's live heap
	// The floor starts from the live heap the last collection marked:
	// collect first, so that it is this test's and not what an earlier
	// run left.
	runtime.GC()
	f := Start(floor)
	if f == nil {
		t.Fatal("Start returned nil for a non-zero floor")
	}
	first := f.Percent()
	if first <= 100 {
		t.Fatalf("GOGC set to %d, want more than 100 for a floor far above the live heap", first)
	}
	// Grow the live heap, collect, and wait for the cleanup to adjust.
	keep := make([][]byte, 0, 64)
	for range 64 {
		keep = append(keep, make([]byte, 1<<20))
	}
	deadline := time.Now().Add(10 * time.Second)
	for f.Percent() >= first && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if got := f.Percent(); got >= first {
		t.Fatalf("GOGC stayed %d after the live heap grew by 64 MB, want less than %d", got, first)
	}
	runtime.KeepAlive(keep)
	// Under the floor's lock, so that a collection's adjustment cannot
	// come between the two readings.
	f.mu.Lock()
	if got := debug.SetGCPercent(f.percent); got != f.percent {
		f.mu.Unlock()
		t.Fatalf("the runtime's GOGC is %d, the floor says it set %d", got, f.percent)
	}
	f.mu.Unlock()

	f.Stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("after Stop GOGC is %d, want the base 100", got)
	}
}

func TestStartLeavesGOGCOffAlone(t *testing.T) {
	for _, v := range []string{"off", "-1"} {
		t.Setenv("GOGC", v)
		if f := Start(64 << 20); f != nil {
			f.Stop()
			t.Fatalf("GOGC=%s: Start returned a floor, want none (the operator chose a memory limit alone)", v)
		}
	}
	t.Setenv("GOGC", "")
	if f := Start(0); f != nil {
		f.Stop()
		t.Fatal("a zero floor started")
	}
}
