package main

// The one code-generation entry: ent (client + graph/ent.graphqls), then gqlgen.
//go:generate go run -mod=mod ./ent/entc.go
//go:generate go run ./graph/gqlgen.go
