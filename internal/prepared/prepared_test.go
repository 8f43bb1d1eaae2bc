package prepared_test

import (
	"context"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/prepared"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const q = `SELECT $1::int + 1`

// run runs q in a transaction and reports its answer and whether the
// transaction's connection holds q prepared.
func run(t *testing.T, d *prepared.Driver, ctx context.Context) (answer int, isPrepared bool) {
	t.Helper()
	tx, err := d.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback() }()
	ptx := tx.(*prepared.Tx)
	rows, err := ptx.QueryContext(ctx, q, 41)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		if err := rows.Scan(&answer); err != nil {
			t.Fatal(err)
		}
	}
	rows.Close()
	// ent's own builders go through Query.
	var er entsql.Rows
	if err := ptx.Query(ctx, q, []any{1}, &er); err != nil {
		t.Fatal(err)
	}
	er.Close()
	var n int
	r, err := ptx.QueryContext(context.Background(), `SELECT count(*) FROM pg_prepared_statements WHERE statement = $1`, q)
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		if err := r.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	return answer, n > 0
}

func TestHotStatementsRunPrepared(t *testing.T) {
	db := dbtest.Open(t)
	db.SetMaxOpenConns(1) // no connection to prepare on: the statement runs unprepared
	d1 := prepared.Wrap(entsql.OpenDB(dialect.Postgres, db))
	if a, p := run(t, d1, prepared.Hot(context.Background())); a != 42 || p {
		t.Fatalf("no spare connection: answer %d, prepared %v; want 42 unprepared", a, p)
	}
	db.SetMaxOpenConns(2)
	d := prepared.Wrap(entsql.OpenDB(dialect.Postgres, db))

	if a, p := run(t, d, context.Background()); a != 42 || p {
		t.Fatalf("an ordinary context: answer %d, prepared %v; want 42 unprepared", a, p)
	}
	for range 2 { // prepared the first time, reused the next
		if a, p := run(t, d, prepared.Hot(context.Background())); a != 42 || !p {
			t.Fatalf("a hot context: answer %d, prepared %v; want 42 prepared", a, p)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}
