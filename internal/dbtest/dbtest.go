// Package dbtest gives each test package a fresh, migrated PostgreSQL database
// on the throwaway cluster `make test` starts (TEST_DATABASE_URL names its
// maintenance database). Use it from TestMain:
//
//	func TestMain(m *testing.M) { dbtest.Main(m) }
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/ent"
	_ "github.com/switchboard-chat/switchboard/ent/runtime"
	"github.com/switchboard-chat/switchboard/migrations"
)

var (
	dbURL    string
	setupErr error
)

// Main creates the package's database, runs the tests, and drops it.
func Main(m *testing.M) {
	admin := os.Getenv("TEST_DATABASE_URL")
	if admin == "" {
		os.Exit(m.Run()) // each test skips (or fails in CI) through URL
	}
	name := "sbtest_" + randomHex(6)
	if err := exec(admin, fmt.Sprintf("CREATE DATABASE %s", name)); err != nil {
		setupErr = fmt.Errorf("creating test database: %w", err)
		os.Exit(m.Run())
	}
	u, err := url.Parse(admin)
	if err != nil {
		setupErr = err
		os.Exit(m.Run())
	}
	u.Path = "/" + name
	dbURL = u.String()
	if setupErr = migrate(dbURL); setupErr != nil {
		setupErr = fmt.Errorf("migrating test database: %w", setupErr)
	}
	code := m.Run()
	if err := exec(admin, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)); err != nil {
		fmt.Fprintln(os.Stderr, "dropping test database:", err)
	}
	os.Exit(code)
}

// URL returns the package's migrated database, skipping the test when no
// PostgreSQL was provided (failing instead under CI, where skipping would hide work).
func URL(t testing.TB) string {
	t.Helper()
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	if dbURL == "" {
		msg := "TEST_DATABASE_URL is not set: run `make test`, which starts a throwaway PostgreSQL (or call dbtest.Main from TestMain)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dbURL
}

// Empty creates a database with nothing in it (not even migrations) and
// returns its URL; it is dropped when the test ends.
func Empty(t testing.TB) string {
	t.Helper()
	URL(t) // skips or fails as every database test does
	admin := os.Getenv("TEST_DATABASE_URL")
	name := "sbtest_empty_" + randomHex(6)
	if err := exec(admin, fmt.Sprintf("CREATE DATABASE %s", name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec(admin, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name)) })
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}

// Open returns a *sql.DB on the package's database, closed when the test ends.
func Open(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("postgres", URL(t))
	if err != nil {
		t.Fatal(err)
	}
	// As the server's pool: without idle connections kept, every burst
	// would open new PostgreSQL backends (a process each).
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	t.Cleanup(func() { db.Close() })
	return db
}

// Client returns an ent client on the package's database. A non-nil driver
// wrapper (such as a statement counter) is applied to the driver.
func Client(t testing.TB, wrap func(dialect.Driver) dialect.Driver) *ent.Client {
	t.Helper()
	var drv dialect.Driver = entsql.OpenDB(dialect.Postgres, Open(t))
	if wrap != nil {
		drv = wrap(drv)
	}
	return ent.NewClient(ent.Driver(drv))
}

func migrate(u string) error {
	db, err := sql.Open("postgres", u)
	if err != nil {
		return err
	}
	defer db.Close()
	return migrations.Apply(context.Background(), db, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func exec(u, stmt string) error {
	db, err := sql.Open("postgres", u)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.Exec(stmt)
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
