package graph

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A client that stops reading cannot hold a writer (and the socket's lock)
// forever: writes give up after the socket's write timeout.
func TestWritesHaveADeadline(t *testing.T) {
	server := make(chan *websocket.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			t.Error(err)
			return
		}
		server <- c
	}))
	defer srv.Close()
	client, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close() // and never read from it
	s := &socket{conn: <-server, timeout: 200 * time.Millisecond}
	big := []byte(strings.Repeat("x", 1<<20))
	failed := make(chan error, 1)
	go func() {
		for {
			if err := s.write(big); err != nil {
				failed <- err
				return
			}
		}
	}()
	select {
	case err := <-failed:
		if !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("write failed with %v, want a timeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("writes to a client that stopped reading never gave up")
	}
}
