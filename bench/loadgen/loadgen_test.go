package loadgen

import (
	"context"
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	var d Dist
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {99, 99 * time.Millisecond}, {100, 100 * time.Millisecond}, {0.1, time.Millisecond}, {99.9, 100 * time.Millisecond}} {
		if got := d.Percentile(c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if got := (Dist{}).Percentile(99); got != 0 {
		t.Errorf("p99 of nothing = %v, want 0", got)
	}
	// Nearest rank of 3 samples: p50 is the 2nd, p99 the 3rd.
	three := Dist{1, 2, 3}
	if three.Percentile(50) != 2 || three.Percentile(99) != 3 {
		t.Errorf("p50, p99 of 1,2,3 = %v, %v", three.Percentile(50), three.Percentile(99))
	}
}

func TestRecorderSortsConcurrentSamples(t *testing.T) {
	var r Recorder
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 250 {
				r.Add(time.Duration(1000 - (i*4 + g)))
			}
		})
	}
	wg.Wait()
	d := r.Dist()
	if len(d) != 1000 || d[0] != 1 || d[999] != 1000 || d.Percentile(50) != 500 {
		t.Fatalf("len %d, min %v, max %v, p50 %v", len(d), d[0], d[len(d)-1], d.Percentile(50))
	}
}

func TestSummarize(t *testing.T) {
	s := Summarize([]float64{3, 1, 2})
	if s.Median != 2 || s.Min != 1 || s.Max != 3 || s.N != 3 {
		t.Errorf("odd: %+v", s)
	}
	s = Summarize([]float64{4, 1, 3, 2})
	if s.Median != 2.5 || s.Min != 1 || s.Max != 4 {
		t.Errorf("even: %+v", s)
	}
	s = Summarize([]float64{math.NaN(), 5})
	if s.Median != 5 || s.N != 1 {
		t.Errorf("NaN skipped: %+v", s)
	}
	if s := Summarize(nil); !math.IsNaN(s.Median) || s.N != 0 {
		t.Errorf("empty: %+v", s)
	}
}

func TestScheduleDue(t *testing.T) {
	start := time.Unix(1000, 0)
	s := NewSchedule(start, 2000)
	if s.Interval != 500*time.Microsecond {
		t.Fatalf("interval %v", s.Interval)
	}
	for _, c := range []struct {
		at   time.Duration
		want int
	}{{-time.Millisecond, 0}, {0, 1}, {499 * time.Microsecond, 1}, {500 * time.Microsecond, 2}, {time.Second, 2001}} {
		if got := s.Due(start.Add(c.at)); got != c.want {
			t.Errorf("Due(start%+v) = %d, want %d", c.at, got, c.want)
		}
	}
	if s.At(4) != start.Add(2*time.Millisecond) || s.Count(10*time.Second) != 20000 {
		t.Errorf("At(4) = %v, Count(10s) = %d", s.At(4).Sub(start), s.Count(10*time.Second))
	}
}

// The open loop keeps its schedule when the system under test stalls: the
// due times stay on the fixed grid and the stall shows in the latency of
// the sends that queued behind it, instead of the sends being held back.
func TestOpenLoopAvoidsCoordinatedOmission(t *testing.T) {
	const rate, d = 1000, 200 * time.Millisecond
	var (
		mu   sync.Mutex
		dues = map[int]time.Time{}
		lat  Recorder
	)
	OpenLoop(context.Background(), rate, d, 1, func(_ context.Context, i int, due time.Time) {
		if now := time.Now(); now.Before(due) {
			t.Errorf("send %d left %v before it was due", i, due.Sub(now))
		}
		if i == 10 {
			time.Sleep(50 * time.Millisecond) // one stall, with a single worker
		}
		lat.Add(time.Since(due))
		mu.Lock()
		dues[i] = due
		mu.Unlock()
	})
	if len(dues) != 200 {
		t.Fatalf("%d sends, want 200", len(dues))
	}
	for i := 1; i < len(dues); i++ {
		if gap := dues[i].Sub(dues[i-1]); gap != time.Millisecond {
			t.Fatalf("due times %d and %d are %v apart, want 1ms", i-1, i, gap)
		}
	}
	// The ~40 sends due during the 50 ms stall waited for it.
	dist := lat.Dist()
	if p90 := dist.Percentile(90); p90 < 5*time.Millisecond {
		t.Errorf("p90 = %v: the stall is missing from the latencies", p90)
	}
}

func TestClosedLoop(t *testing.T) {
	var mu sync.Mutex
	calls := map[int]int{}
	took := ClosedLoop(context.Background(), 3, 30*time.Millisecond, func(_ context.Context, w int) {
		time.Sleep(time.Millisecond)
		mu.Lock()
		calls[w]++
		mu.Unlock()
	})
	if len(calls) != 3 || took < 30*time.Millisecond {
		t.Fatalf("calls per worker %v, took %v", calls, took)
	}
}

func TestStamp(t *testing.T) {
	due := time.Unix(1700000000, 123456789)
	tag, got, ok := ParseStamp(Stamp("run2", due))
	if !ok || tag != "run2" || !got.Equal(due) {
		t.Fatalf("ParseStamp = %q %v %v", tag, got, ok)
	}
	if _, _, ok := ParseStamp("hello"); ok {
		t.Fatal("plain text parsed as a stamp")
	}
	var r Recorder
	on := r.Stamped("run2")
	on(Stamp("run2", due), due.Add(3*time.Millisecond))
	on(Stamp("warm", due), due.Add(time.Second))
	if d := r.Dist(); len(d) != 1 || d[0] != 3*time.Millisecond {
		t.Fatalf("recorded %v", d)
	}
}

func TestTelegramUpdate(t *testing.T) {
	a, b := TelegramUpdate(42, `say "hi"`), TelegramUpdate(42, "x")
	var u struct {
		UpdateID int64 `json:"update_id"`
		Message  struct {
			Chat struct{ ID int64 }
			Text string
		}
	}
	if err := json.Unmarshal(a, &u); err != nil || u.Message.Chat.ID != 42 || u.Message.Text != `say "hi"` {
		t.Fatalf("update %s: %+v, %v", a, u, err)
	}
	first := u.UpdateID
	if err := json.Unmarshal(b, &u); err != nil || u.UpdateID != first+1 {
		t.Fatalf("update ids %d then %d, want consecutive", first, u.UpdateID)
	}
}
