package migrations_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"sync"
	"testing"

	_ "github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/migrations"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// The package database is already migrated by dbtest: applying again, from
// several replicas at once, must change nothing and fail nowhere.
func TestApplyIsIdempotentAcrossReplicas(t *testing.T) {
	db := dbtest.Open(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- migrations.Apply(context.Background(), db, quiet)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := migrations.All()
	if err != nil || len(all) == 0 {
		t.Fatalf("embedded migrations: %v %v", all, err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(all) {
		t.Fatalf("schema_migrations has %d rows (%v), want %d", n, err, len(all))
	}
	pending, err := migrations.Pending(context.Background(), db)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending = %v %v, want none", pending, err)
	}
}

// On an empty database everything is pending until applied.
func TestPendingOnEmptyDatabase(t *testing.T) {
	db := dbtest.Open(t)
	if _, err := db.Exec("CREATE SCHEMA empty_probe"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec("DROP SCHEMA empty_probe CASCADE") })
	conn, err := sql.Open("postgres", dbtest.URL(t)+"&search_path=empty_probe")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	all, _ := migrations.All()
	pending, err := migrations.Pending(context.Background(), conn)
	if err != nil || len(pending) != len(all) {
		t.Fatalf("pending = %v %v, want all %d", pending, err, len(all))
	}
	if err := migrations.Apply(context.Background(), conn, quiet); err != nil {
		t.Fatal(err)
	}
	if pending, _ := migrations.Pending(context.Background(), conn); len(pending) != 0 {
		t.Fatalf("pending after apply = %v", pending)
	}
	var tables int
	_ = conn.QueryRow("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'empty_probe'").Scan(&tables)
	if tables < 10 {
		t.Fatalf("empty_probe has %d tables after migrating", tables)
	}
}
