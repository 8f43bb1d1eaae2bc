//go:build ignore

// diff.go writes a new versioned migration: the SQL that takes a database built
// from the existing migrations to the current ent schema. It replays the
// migrations on DEV_DATABASE_URL (an empty, throwaway database) to compute the
// difference. `make migration name=add_x` runs it; `make check-generated` runs it
// with -check to fail when the schema changed without a migration.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"

	atlas "ariga.io/atlas/sql/migrate"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"
	_ "github.com/lib/pq"

	"github.com/switchboard-chat/switchboard/ent/migrate"
)

func main() {
	check := flag.Bool("check", false, "fail if the schema needs a migration, write nothing")
	rehash := flag.Bool("rehash", false, "rewrite atlas.sum after a generated migration was completed by hand (a data step)")
	flag.Parse()
	if *rehash {
		dir, err := atlas.NewLocalDir("migrations/sql")
		if err != nil {
			log.Fatal(err)
		}
		sum, err := dir.Checksum()
		if err != nil {
			log.Fatal(err)
		}
		if err := atlas.WriteSumFile(dir, sum); err != nil {
			log.Fatal(err)
		}
		fmt.Println("atlas.sum rewritten")
		return
	}
	name := flag.Arg(0)
	if name == "" && !*check {
		log.Fatal("usage: go run ./migrations/diff.go [-check] NAME")
	}
	devURL := os.Getenv("DEV_DATABASE_URL")
	if devURL == "" {
		log.Fatal("DEV_DATABASE_URL must name an empty throwaway PostgreSQL database")
	}
	dirPath := "migrations/sql"
	if *check {
		tmp, err := os.MkdirTemp("", "migrations-check")
		if err != nil {
			log.Fatal(err)
		}
		defer os.RemoveAll(tmp)
		if err := os.CopyFS(tmp, os.DirFS(dirPath)); err != nil {
			log.Fatal(err)
		}
		dirPath, name = tmp, "check"
	}
	dir, err := atlas.NewLocalDir(dirPath)
	if err != nil {
		log.Fatalf("opening migration directory: %v", err)
	}
	before, _ := dir.Files()
	err = migrate.NamedDiff(context.Background(), devURL, name,
		schema.WithDir(dir),
		schema.WithMigrationMode(schema.ModeReplay),
		schema.WithDialect(dialect.Postgres),
		schema.WithFormatter(atlas.DefaultFormatter),
		schema.WithDropIndex(true),
		schema.WithDropColumn(true),
	)
	if err != nil {
		log.Fatalf("computing migration: %v", err)
	}
	after, _ := dir.Files()
	if *check {
		if len(after) != len(before) {
			fmt.Fprintln(os.Stderr, "migrations are stale: the ent schema changed without a migration; run `make migration name=<what_changed>`")
			os.Exit(1)
		}
		fmt.Println("migrations are up to date")
		return
	}
	if len(after) == len(before) {
		fmt.Println("no schema change: no migration written")
	}
}
