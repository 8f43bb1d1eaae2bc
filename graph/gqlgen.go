//go:build ignore

// gqlgen.go runs gqlgen's generator as `go tool gqlgen generate` would, with
// one change: the fields of objects are resolved one after another, on the
// goroutine of the object, rather than each field with a context on a
// goroutine of its own. Those fields are ent edges the page's query loaded
// up front, or resolvers that compute from the object: a goroutine each
// (150 for the inbox page) cost a third of the page's CPU in stack growth and
// scheduling, and bought no parallel work. Query keeps gqlgen's concurrency,
// so independent root fields of one request still run side by side.
// Run through `go generate` from the module root (see generate.go).
package main

import (
	"log"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
)

// sequential is the gqlgen plugin that turns the per-field goroutines off.
type sequential struct{}

func (sequential) Name() string { return "sequential" }

func (sequential) GenerateCode(data *codegen.Data) error {
	for _, o := range data.Objects {
		if o.Definition != data.Schema.Query {
			o.DisableConcurrency = true
		}
	}
	return nil
}

func main() {
	cfg, err := config.LoadConfig("gqlgen.yml")
	if err != nil {
		log.Fatalf("loading gqlgen.yml: %v", err)
	}
	if err := api.Generate(cfg, api.AddPlugin(sequential{})); err != nil {
		log.Fatalf("running gqlgen: %v", err)
	}
}
