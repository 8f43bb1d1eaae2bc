// Package probeserve is what the limit probes share as processes: an
// explicit address (the harness must know where to find them) and the
// "listening on" line the harness waits for.
package probeserve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// CheckAddr refuses an address without an explicit port.
func CheckAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return fmt.Errorf("-addr must be an explicit host:port, got %q", addr)
	}
	return nil
}

// Serve listens, says so on stdout (the harness waits for that line) and
// serves until ctx ends, then lets the requests in flight finish;
// onShutdown, when not nil, closes what the server does not track (hijacked
// websockets).
func Serve(ctx context.Context, addr string, h http.Handler, onShutdown func()) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if onShutdown != nil {
		srv.RegisterOnShutdown(onShutdown)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
