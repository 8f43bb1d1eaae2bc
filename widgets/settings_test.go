package widgets_test

import (
	"testing"

	"github.com/switchboard-chat/switchboard/widgets"
)

func TestNormalizeOrigin(t *testing.T) {
	tests := []struct {
		name, in, want string // want "" means refused
	}{
		{"https host", "https://shop.example.vn", "https://shop.example.vn"},
		{"http with a port", "http://localhost:3000", "http://localhost:3000"},
		{"case folded as browsers send it", "HTTPS://Shop.Example.VN", "https://shop.example.vn"},
		{"trailing slash dropped", "https://shop.example.vn/", "https://shop.example.vn"},
		{"default https port dropped", "https://shop.example.vn:443", "https://shop.example.vn"},
		{"default http port dropped", "http://shop.example.vn:80", "http://shop.example.vn"},
		{"other port kept", "https://shop.example.vn:8443", "https://shop.example.vn:8443"},
		{"IPv4", "http://192.0.2.7:8080", "http://192.0.2.7:8080"},
		{"IPv6", "http://[2001:DB8::1]:8080", "http://[2001:db8::1]:8080"},
		{"punycode", "https://xn--cn-0ia.example", "https://xn--cn-0ia.example"},
		{"surrounding spaces", "  https://a.example  ", "https://a.example"},

		{"empty", "", ""},
		{"no scheme", "shop.example.vn", ""},
		{"other scheme", "ftp://shop.example.vn", ""},
		{"javascript", "javascript:alert(1)", ""},
		{"path", "https://shop.example.vn/checkout", ""},
		{"query", "https://shop.example.vn?x=1", ""},
		{"empty query", "https://shop.example.vn/?", ""},
		{"fragment", "https://shop.example.vn#top", ""},
		{"user info", "https://user:pw@shop.example.vn", ""},
		{"wildcard", "https://*.example.vn", ""},
		{"unicode host", "https://chợ.example", ""},
		{"port zero", "https://shop.example.vn:0", ""},
		{"port too large", "https://shop.example.vn:70000", ""},
		{"empty label", "https://shop..example.vn", ""},
		{"null origin", "null", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := widgets.NormalizeOrigin(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("NormalizeOrigin(%q) = %q, want refused", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}
