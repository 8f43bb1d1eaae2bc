// Package testkit is what the tests of every package share: the system
// context, waiting for a condition, the platforms' fixtures, unique ids and
// a logger. (Package testapp runs the whole application for a test.)
package testkit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/internal/jsonpick"
)

// Sys is the context of background work: no viewer, access rules bypassed.
func Sys() context.Context { return privacy.DecisionContext(context.Background(), privacy.Allow) }

// Eventually polls cond until it holds, failing the test after 20 s.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// root is the module's directory.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Fixture reads platform/<platform>/testdata/<name>, a body in the
// platform's own format, with old/new replacements applied.
func Fixture(t testing.TB, platform, name string, replace ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(), "platform", platform, "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(replace...).Replace(string(b)))
}

var seq atomic.Int64

// Digits returns a numeric id no other test uses (platform ids are digits).
func Digits(prefix string) string {
	return fmt.Sprintf("%s%d%03d", prefix, time.Now().UnixNano()%1e12, seq.Add(1)%1000)
}

// Logger logs to w, or nowhere when w is nil (SWITCHBOARD_TEST_LOGS=1: stderr).
func Logger(w io.Writer) *slog.Logger {
	if w == nil {
		w = io.Discard
		if os.Getenv("SWITCHBOARD_TEST_LOGS") != "" {
			w = os.Stderr
		}
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

// Pick walks decoded JSON objects by key; nil when a step is missing.
var Pick = jsonpick.Pick

// Scrape reads the operator's /metrics from h: each series' value by its
// name and labels as printed.
func Scrape(t testing.TB, h http.Handler) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	out := map[string]float64{}
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if m := seriesLine.FindStringSubmatch(l); m != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			out[m[1]] = v
		}
	}
	return out
}

var seriesLine = regexp.MustCompile(`^([a-z_:]+(?:\{[^}]*\})?) (\S+)$`)
