// Package prepared runs the statements of hot paths as prepared statements.
//
// lib/pq sends a statement with arguments in two round trips (parse and
// describe, then bind and execute), and PostgreSQL parses and plans it
// afresh each time. For the journal's batches that was about half of each
// statement's time: a prepared statement is bound and executed in one round
// trip, on a plan PostgreSQL keeps. Only contexts marked with Hot use them,
// so the many one-off statements of the API do not fill the connections
// with prepared statements nobody reuses.
package prepared

import (
	"context"
	"database/sql"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
)

type hotKey struct{}

// Hot marks ctx: statements with arguments run in transactions under it
// are prepared once per connection and reused.
func Hot(ctx context.Context) context.Context { return context.WithValue(ctx, hotKey{}, true) }

func hot(ctx context.Context) bool { v, _ := ctx.Value(hotKey{}).(bool); return v }

// MaxStatements bounds how many statement texts one process prepares: a
// hot path whose texts vary (an IN list of any length) stops being
// prepared past it rather than filling every connection.
const MaxStatements = 64

// prepareWait bounds the wait for a connection to prepare on.
const prepareWait = 100 * time.Millisecond

// Driver is ent's SQL driver whose transactions prepare hot statements.
type Driver struct {
	*entsql.Driver

	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

// Wrap returns d with prepared hot statements.
func Wrap(d *entsql.Driver) *Driver { return &Driver{Driver: d, stmts: map[string]*sql.Stmt{}} }

// Tx starts a transaction.
func (d *Driver) Tx(ctx context.Context) (dialect.Tx, error) { return d.BeginTx(ctx, nil) }

// BeginTx starts a transaction with options.
func (d *Driver) BeginTx(ctx context.Context, opts *sql.TxOptions) (dialect.Tx, error) {
	t, err := d.Driver.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	etx := t.(*entsql.Tx)
	return &Tx{Tx: etx, tx: etx.Tx.(*sql.Tx), d: d}, nil
}

// stmt returns the prepared statement for q when ctx is hot, preparing it
// the first time.
func (d *Driver) stmt(ctx context.Context, q string, args []any) *sql.Stmt {
	if len(args) == 0 || !hot(ctx) {
		return nil // without arguments lib/pq already takes one round trip
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if st, ok := d.stmts[q]; ok || len(d.stmts) >= MaxStatements {
		return st
	}
	// Preparing takes a connection of its own (database/sql then prepares
	// it again on the transaction's, and on each other it later runs on,
	// once). With every connection held by transactions that wait, it
	// would wait forever: run unprepared then, and try again next time.
	pctx, cancel := context.WithTimeout(ctx, prepareWait)
	defer cancel()
	st, err := d.DB().PrepareContext(pctx, q)
	if err != nil {
		// Running it unprepared reports a bad statement where it belongs.
		return nil
	}
	d.stmts[q] = st
	return st
}

// Close closes the prepared statements and the database.
func (d *Driver) Close() error {
	d.mu.Lock()
	for q, st := range d.stmts {
		_ = st.Close()
		delete(d.stmts, q)
	}
	d.mu.Unlock()
	return d.Driver.Close()
}

// Tx is a transaction that runs hot statements prepared.
type Tx struct {
	*entsql.Tx
	tx *sql.Tx
	d  *Driver
}

// ExecContext runs a statement.
func (t *Tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.d.stmt(ctx, q, args); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

// QueryContext runs a query.
func (t *Tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.d.stmt(ctx, q, args); st != nil {
		return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

// Exec runs a statement built by ent.
func (t *Tx) Exec(ctx context.Context, q string, args, v any) error {
	argv, _ := args.([]any)
	st := t.d.stmt(ctx, q, argv)
	if st == nil {
		return t.Tx.Exec(ctx, q, args, v)
	}
	res, err := t.tx.StmtContext(ctx, st).ExecContext(ctx, argv...)
	if err != nil {
		return err
	}
	if r, ok := v.(*sql.Result); ok {
		*r = res
	}
	return nil
}

// Query runs a query built by ent.
func (t *Tx) Query(ctx context.Context, q string, args, v any) error {
	argv, _ := args.([]any)
	rows, ok := v.(*entsql.Rows)
	st := t.d.stmt(ctx, q, argv)
	if st == nil || !ok {
		return t.Tx.Query(ctx, q, args, v)
	}
	r, err := t.tx.StmtContext(ctx, st).QueryContext(ctx, argv...)
	if err != nil {
		return err
	}
	*rows = entsql.Rows{ColumnScanner: r}
	return nil
}
