package platform_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/platform"
)

// pngBytes starts like a PNG, which is all content sniffing looks at.
var pngBytes = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 200)...)

// mediaServer serves files by path and counts the requests it got.
func mediaServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/files/{name}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/pdf")
		_, _ = w.Write([]byte("%PDF-1.4 report"))
	})
	mux.HandleFunc("/untyped.png", func(w http.ResponseWriter, r *http.Request) {
		// A nil entry stops net/http from sniffing a type on our behalf.
		w.Header()["Content-Type"] = nil
		_, _ = w.Write(pngBytes)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(pngBytes)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(make([]byte, 2048))
	})
	mux.HandleFunc("/big-chunked", func(w http.ResponseWriter, r *http.Request) {
		// Flushing first sends no Content-Length, so only reading finds the size.
		w.(http.Flusher).Flush()
		for range 4 {
			_, _ = w.Write(make([]byte, 512))
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/hop/{n}", func(w http.ResponseWriter, r *http.Request) {
		var n int
		_, _ = fmt.Sscan(r.PathValue("n"), &n)
		if n == 0 {
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(pngBytes)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/to-ftp", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "ftp://example.com/x", http.StatusFound)
	})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// wantMediaError checks err is a media *platform.Error of kind whose text
// says what and holds none of leaks.
func wantMediaError(t *testing.T, err error, kind platform.Kind, what string, leaks ...string) *platform.Error {
	t.Helper()
	var pe *platform.Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v (%T), want *platform.Error", err, err)
	}
	if pe.Platform != "media" || !strings.HasPrefix(pe.Op, "GET") {
		t.Errorf("Platform, Op = %q, %q; want media, GET <host>", pe.Platform, pe.Op)
	}
	if pe.Kind != kind {
		t.Errorf("Kind = %v, want %v (err: %v)", pe.Kind, kind, err)
	}
	if !strings.Contains(err.Error(), what) {
		t.Errorf("error %q does not say %q", err.Error(), what)
	}
	for _, l := range leaks {
		if strings.Contains(err.Error(), l) {
			t.Errorf("error %q contains %q", err.Error(), l)
		}
	}
	return pe
}

func TestFetchMediaRefusesPrivateAddresses(t *testing.T) {
	srv, hits := mediaServer(t)
	port := strconv.Itoa(srv.Listener.Addr().(*net.TCPAddr).Port)
	hc := platform.MediaClient(false)
	for _, raw := range []string{
		srv.URL + "/photo.png?sig=s3cr3t",
		"http://localhost:" + port + "/photo.png", // refused after resolving, not by name
		"http://127.0.0.2:" + port + "/",
		"http://0.0.0.0:" + port + "/",
		"http://[::ffff:127.0.0.1]:" + port + "/",
		// Refused before connecting, so no network is needed.
		"http://10.1.2.3/x",
		"http://192.168.0.1/x",
		"http://172.16.5.4/x",
		"http://169.254.169.254/latest/meta-data/",
		"http://100.100.100.200/x",
		"http://224.0.0.1/x",
	} {
		t.Run(raw, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			d, err := platform.FetchMedia(ctx, hc, raw, 1<<20)
			if d != nil {
				t.Errorf("got a download %q", d.Name)
			}
			pe := wantMediaError(t, err, platform.Permanent, "refusing to fetch media", "s3cr3t", "photo.png")
			u, _ := url.Parse(raw)
			if pe.Op != "GET "+u.Host {
				t.Errorf("Op = %q, want GET %s", pe.Op, u.Host)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the server got %d requests, want none", n)
	}
}

func TestFetchMediaAllowsPrivateWhenAsked(t *testing.T) {
	srv, _ := mediaServer(t)
	d, err := platform.FetchMedia(context.Background(), platform.MediaClient(true), srv.URL+"/photo.png", 1<<20)
	if err != nil {
		t.Fatalf("FetchMedia: %v", err)
	}
	if !bytes.Equal(d.Data, pngBytes) || d.Name != "photo.png" || d.ContentType != "image/png" {
		t.Errorf("download = %q, %q, %d bytes; want photo.png, image/png, the served bytes", d.Name, d.ContentType, len(d.Data))
	}
}

func TestFetchMediaNameAndType(t *testing.T) {
	srv, _ := mediaServer(t)
	hc := platform.MediaClient(true)
	tests := []struct {
		path, name, contentType string
	}{
		{"/files/Q1%20report.pdf?sig=abc", "Q1 report.pdf", "application/pdf"},
		{"/untyped.png", "untyped.png", "image/png"},                   // sniffed
		{"/", "file", "image/png"},                                     // no name in the path
		{"/hop/3", "3", "image/png"},                                   // the URL given, not the one redirected to
		{"/a/b/photo.jpeg#frag", "photo.jpeg", "image/png"},            // the server's word over the name
		{"/dir/", "dir", "image/png"},                                  // a trailing slash
		{"/files/%E1%BA%A3nh.pdf", "ảnh.pdf", "application/pdf"},       // decoded
		{"/files/weird;name.pdf", "weird;name.pdf", "application/pdf"}, // no parameters in paths
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			d, err := platform.FetchMedia(context.Background(), hc, srv.URL+tt.path, 1<<20)
			if err != nil {
				t.Fatalf("FetchMedia: %v", err)
			}
			if d.Name != tt.name || d.ContentType != tt.contentType {
				t.Errorf("Name, ContentType = %q, %q; want %q, %q", d.Name, d.ContentType, tt.name, tt.contentType)
			}
		})
	}
}

func TestFetchMediaFailures(t *testing.T) {
	srv, _ := mediaServer(t)
	hc := platform.MediaClient(true)
	tests := []struct {
		name   string
		url    string
		max    int64
		kind   platform.Kind
		what   string
		status int
	}{
		{"too large by Content-Length", srv.URL + "/big?token=s3cr3t", 1024, platform.Permanent, "more than the 1024", 200},
		{"too large when read", srv.URL + "/big-chunked?token=s3cr3t", 1024, platform.Permanent, "more than the 1024", 200},
		{"not found", srv.URL + "/missing?token=s3cr3t", 1 << 20, platform.Permanent, "HTTP 404", 404},
		{"unavailable", srv.URL + "/down?token=s3cr3t", 1 << 20, platform.Transient, "HTTP 503", 503},
		{"too many redirects", srv.URL + "/hop/4?token=s3cr3t", 1 << 20, platform.Permanent, "redirects", 0},
		{"redirect to ftp", srv.URL + "/to-ftp?token=s3cr3t", 1 << 20, platform.Permanent, "not http or https", 0},
		{"ftp URL", "ftp://example.com/a.png?token=s3cr3t", 1 << 20, platform.Permanent, "http or https", 0},
		{"file URL", "file:///etc/passwd", 1 << 20, platform.Permanent, "http or https", 0},
		{"relative URL", "/photo.png?token=s3cr3t", 1 << 20, platform.Permanent, "http or https", 0},
		{"closed port", "http://127.0.0.1:1/a.png?token=s3cr3t", 1 << 20, platform.Transient, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := platform.FetchMedia(context.Background(), hc, tt.url, tt.max)
			pe := wantMediaError(t, err, tt.kind, tt.what, "s3cr3t", "token=")
			if pe.Status != tt.status {
				t.Errorf("Status = %d, want %d", pe.Status, tt.status)
			}
		})
	}
}

func TestFetchMediaFollowsRedirects(t *testing.T) {
	srv, hits := mediaServer(t)
	d, err := platform.FetchMedia(context.Background(), platform.MediaClient(true), srv.URL+"/hop/3", 1<<20)
	if err != nil {
		t.Fatalf("FetchMedia: %v", err)
	}
	if !bytes.Equal(d.Data, pngBytes) || hits.Load() != 4 {
		t.Errorf("got %d bytes after %d requests; want the image after 4", len(d.Data), hits.Load())
	}
}

func TestFetchMediaTimeout(t *testing.T) {
	srv, _ := mediaServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := platform.FetchMedia(ctx, platform.MediaClient(true), srv.URL+"/slow?token=s3cr3t", 1<<20)
	wantMediaError(t, err, platform.Transient, "timed out", "s3cr3t")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestMediaClientDefaults(t *testing.T) {
	hc := platform.MediaClient(false)
	if hc.Timeout <= 0 || hc.Timeout > time.Minute {
		t.Errorf("Timeout = %v, want a bound of at most a minute", hc.Timeout)
	}
	// A nil client is MediaClient(false): private addresses stay refused.
	srv, hits := mediaServer(t)
	_, err := platform.FetchMedia(context.Background(), nil, srv.URL+"/photo.png", 1<<20)
	wantMediaError(t, err, platform.Permanent, "refusing")
	if hits.Load() != 0 {
		t.Errorf("the server got %d requests", hits.Load())
	}
}
