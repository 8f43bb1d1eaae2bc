package config_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/config"
)

var validKey = base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))

func env(overrides map[string]string) func(string) string {
	base := map[string]string{
		"DATABASE_URL":   "postgres://u:secretpw@localhost/db",
		"JWT_SECRET":     strings.Repeat("s", 32),
		"ENCRYPTION_KEY": validKey,
	}
	for k, v := range overrides {
		base[k] = v
	}
	return func(k string) string { return base[k] }
}

func TestDefaults(t *testing.T) {
	c, err := config.Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != ":8080" || c.PublicURL.String() != "http://localhost:8080" || c.LogLevel != slog.LevelInfo ||
		!c.Introspection || !c.AutoMigrate || c.TokenTTL != 12*time.Hour || len(c.EncryptionKey) != 32 ||
		c.Limits.WidgetRate != 1 || c.Limits.WidgetBurst != 60 || c.GCHeapFloorMB != 64 {
		t.Fatalf("defaults = %+v", c)
	}
}

func TestSettings(t *testing.T) {
	cases := []struct {
		name  string
		env   map[string]string
		check func(*config.Config) bool
	}{
		{"PORT when ADDR is unset", map[string]string{"PORT": "9999"}, func(c *config.Config) bool { return c.Addr == ":9999" }},
		{"ADDR wins over PORT", map[string]string{"PORT": "9999", "ADDR": "127.0.0.1:7000"}, func(c *config.Config) bool { return c.Addr == "127.0.0.1:7000" }},
		{"https public URL, trailing slash dropped", map[string]string{"PUBLIC_URL": "https://sb.example.com/base/"}, func(c *config.Config) bool { return c.PublicURL.String() == "https://sb.example.com/base" }},
		{"plain http public URL", map[string]string{"PUBLIC_URL": "http://10.0.0.5:8080"}, func(c *config.Config) bool { return c.PublicURL.Host == "10.0.0.5:8080" }},
		{"introspection off", map[string]string{"INTROSPECTION": "false"}, func(c *config.Config) bool { return !c.Introspection }},
		{"no auto migrate", map[string]string{"AUTO_MIGRATE": "false"}, func(c *config.Config) bool { return !c.AutoMigrate }},
		{"debug logs", map[string]string{"LOG_LEVEL": "DEBUG"}, func(c *config.Config) bool { return c.LogLevel == slog.LevelDebug }},
		{"widget rate limit", map[string]string{"WIDGET_RATE_LIMIT": "0.5", "WIDGET_RATE_BURST": "7"}, func(c *config.Config) bool {
			return c.Limits.WidgetRate == 0.5 && c.Limits.WidgetBurst == 7
		}},
		{"no heap floor", map[string]string{"GC_HEAP_FLOOR_MB": "0"}, func(c *config.Config) bool { return c.GCHeapFloorMB == 0 }},
		{"origins", map[string]string{"ALLOWED_ORIGINS": "https://a.example, https://b.example/"}, func(c *config.Config) bool {
			return len(c.AllowedOrigins) == 2 && c.AllowedOrigins[1] == "https://b.example"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := config.Load(env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Fatalf("config = %+v", c)
			}
		})
	}
}

func TestInvalidSettingsNameTheVariable(t *testing.T) {
	cases := map[string]map[string]string{
		"DATABASE_URL":          {"DATABASE_URL": ""},
		"JWT_SECRET":            {"JWT_SECRET": "short"},
		"ENCRYPTION_KEY":        {"ENCRYPTION_KEY": base64.StdEncoding.EncodeToString([]byte("16 bytes only!!!"))},
		"PUBLIC_URL":            {"PUBLIC_URL": "ftp://example.com"},
		"LOG_LEVEL":             {"LOG_LEVEL": "loud"},
		"INTROSPECTION":         {"INTROSPECTION": "maybe"},
		"BOOTSTRAP_ADMIN_EMAIL": {"BOOTSTRAP_ADMIN_EMAIL": "a@example.com"},
		"WIDGET_RATE_LIMIT":     {"WIDGET_RATE_LIMIT": "0"},
		"WIDGET_RATE_BURST":     {"WIDGET_RATE_BURST": "0"},
		"GC_HEAP_FLOOR_MB":      {"GC_HEAP_FLOOR_MB": "64MB"},
	}
	for variable, overrides := range cases {
		t.Run(variable, func(t *testing.T) {
			_, err := config.Load(env(overrides))
			if err == nil || !strings.Contains(err.Error(), variable) {
				t.Fatalf("err = %v, want one naming %s", err, variable)
			}
		})
	}
	t.Run("not base64", func(t *testing.T) {
		if _, err := config.Load(env(map[string]string{"ENCRYPTION_KEY": "%%%"})); err == nil || !strings.Contains(err.Error(), "base64") {
			t.Fatalf("err = %v", err)
		}
	})
}

// CONNECTION_CHECK_INTERVAL is a Go duration of at least a second; anything
// else stops the server with a message naming the variable and the rule.
func TestConnectionCheckInterval(t *testing.T) {
	valid := []struct {
		value string
		want  time.Duration
	}{
		{"", 15 * time.Minute},
		{"1s", time.Second},
		{"90s", 90 * time.Second},
		{" 1h ", time.Hour},
	}
	for _, tc := range valid {
		t.Run("valid "+tc.value, func(t *testing.T) {
			c, err := config.Load(env(map[string]string{"CONNECTION_CHECK_INTERVAL": tc.value}))
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Platforms.ConnectionCheckInterval; got != tc.want {
				t.Fatalf("interval = %s, want %s", got, tc.want)
			}
		})
	}
	for _, value := range []string{"999ms", "0", "-5m", "15", "fifteen minutes"} {
		t.Run("invalid "+value, func(t *testing.T) {
			_, err := config.Load(env(map[string]string{"CONNECTION_CHECK_INTERVAL": value}))
			if err == nil || !strings.Contains(err.Error(), "CONNECTION_CHECK_INTERVAL: must be a Go duration of at least 1s") ||
				!strings.Contains(err.Error(), fmt.Sprintf("%q", value)) {
				t.Fatalf("err = %v, want one naming CONNECTION_CHECK_INTERVAL, the rule and %q", err, value)
			}
		})
	}
}

func TestLogValueMasksSecrets(t *testing.T) {
	c, err := config.Load(env(map[string]string{"BOOTSTRAP_ADMIN_EMAIL": "a@example.com", "BOOTSTRAP_ADMIN_PASSWORD": "hunter2hunter2"}))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("cfg", "config", c)
	out := b.String()
	for _, secret := range []string{"secretpw", strings.Repeat("s", 32), validKey, "hunter2hunter2"} {
		if strings.Contains(out, secret) {
			t.Fatalf("log carries a secret %q: %s", secret, out)
		}
	}
}

// The database URL is logged at start with its password masked, whatever
// form it takes.
func TestDatabaseURLIsMasked(t *testing.T) {
	for _, dsn := range []string{
		"postgres://app:s3cret@db:5432/switchboard?sslmode=disable",
		"postgres://app@db:5432/switchboard?sslmode=disable&password=s3cret",
		"host=db user=app password=s3cret dbname=switchboard",
		"host=db user=app password='s3 cret' dbname=switchboard",
		"host=db PASSWORD = s3cret",
	} {
		cfg, err := config.Load(func(k string) string {
			return map[string]string{"DATABASE_URL": dsn, "JWT_SECRET": strings.Repeat("j", 40),
				"ENCRYPTION_KEY": base64.StdEncoding.EncodeToString(make([]byte, 32))}[k]
		})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", cfg)
		if strings.Contains(buf.String(), "s3cret") || strings.Contains(buf.String(), "s3 cret") {
			t.Fatalf("%q logged as %s", dsn, buf.String())
		}
	}
}

// Traces go where OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
// OTEL_EXPORTER_OTLP_ENDPOINT, says; unset, none are made; a value that is
// not an http(s) URL stops the server naming the variable.
func TestTracesEndpoint(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, "http://collector:4318"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example/v1/traces"},
			"https://traces.example/v1/traces"},
	} {
		c, err := config.Load(env(tc.env))
		if err != nil {
			t.Fatal(err)
		}
		if c.TracesEndpoint != tc.want {
			t.Errorf("%v: endpoint %q, want %q", tc.env, c.TracesEndpoint, tc.want)
		}
	}
	_, err := config.Load(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}))
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT: must be an http or https URL") {
		t.Fatalf("err = %v, want one naming OTEL_EXPORTER_OTLP_ENDPOINT", err)
	}
}
