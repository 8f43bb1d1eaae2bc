// Package config reads Switchboard's configuration from the environment once,
// at start, with defaults, and validates it so a bad setting stops the server
// with a clear message instead of failing later.
package config

import (
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of the server.
type Config struct {
	Addr              string        // ADDR, default :8080 (or :$PORT)
	DatabaseURL       string        // DATABASE_URL
	PublicURL         *url.URL      // PUBLIC_URL: external base URL for webhook URLs
	JWTSecret         []byte        // JWT_SECRET, at least 32 bytes
	TokenTTL          time.Duration // JWT_TTL, default 12h
	EncryptionKey     []byte        // ENCRYPTION_KEY: 32 bytes, standard base64
	BootstrapEmail    string        // BOOTSTRAP_ADMIN_EMAIL
	BootstrapPass     string        // BOOTSTRAP_ADMIN_PASSWORD
	LogLevel          slog.Level    // LOG_LEVEL: debug | info | warn | error
	Introspection     bool          // INTROSPECTION, default true
	AutoMigrate       bool          // AUTO_MIGRATE, default true
	ComplexityLimit   int           // GRAPHQL_COMPLEXITY_LIMIT, default 20000
	AllowedOrigins    []string      // ALLOWED_ORIGINS: comma-separated; empty allows any browser origin
	ShutdownTimeout   time.Duration // SHUTDOWN_TIMEOUT, default 15s
	OldEncryptionKeys [][]byte      // ENCRYPTION_OLD_KEYS: retired keys, comma-separated base64
	Env               string        // ENV: "production", or "" for development
	AdminAddr         string        // ADMIN_ADDR: the operator's listener (/debug/vars, /debug/pprof); "" serves none
	WebhookRetention  time.Duration // WEBHOOK_RETENTION: how long journaled payloads are kept (default 30 days)
	EventLogRetention time.Duration // EVENT_LOG_RETENTION: how long the event log keeps events (default 7 days)
	GCHeapFloorMB     int           // GC_HEAP_FLOOR_MB: the heap may grow this much past what is live before a collection (default 64; 0: GOGC alone)
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT:
	// where traces go over OTLP/HTTP (package tracing); "" makes none. The
	// exporter reads these and the other OTEL_* variables itself.
	TracesEndpoint string

	Platforms Platforms
	Limits    Limits
}

// Limits bound what one client can make the server do.
type Limits struct {
	MaxTokens          int           // GRAPHQL_MAX_TOKENS: tokens the parser reads in one document (default 15,000)
	MaxQueryBytes      int           // GRAPHQL_MAX_QUERY_BYTES: the document's text, much less than the body (default 64 KiB)
	MaxPage            int           // GRAPHQL_MAX_PAGE: the largest first/last (default 500)
	MaxNodes           int           // GRAPHQL_MAX_NODES: ids in one nodes(ids:) (default 100)
	AnonRate           float64       // ANON_RATE_LIMIT: unauthenticated GraphQL requests per second per IP (default 5)
	AnonBurst          int           // ANON_RATE_BURST: and their burst (default 20)
	WidgetRate         float64       // WIDGET_RATE_LIMIT: Zalo widget browser events per second per IP (default 1)
	WidgetBurst        int           // WIDGET_RATE_BURST: and their burst (default 60)
	LoginEmailFailures int           // LOGIN_MAX_FAILURES_PER_EMAIL within the window before logins wait (default 5)
	LoginIPFailures    int           // LOGIN_MAX_FAILURES_PER_IP within the window (default 20)
	LoginWindow        time.Duration // LOGIN_FAILURE_WINDOW (default 15m)
	WSMaxOperations    int           // WS_MAX_OPERATIONS_PER_SOCKET: operations running on one socket (default 100)
	WSMaxSockets       int           // WS_MAX_SOCKETS_PER_USER (default 50)
	WSWriteTimeout     time.Duration // WS_WRITE_TIMEOUT: a client that stops reading is dropped after it (default 10s)
	EventReplayMax     int           // EVENT_REPLAY_MAX: events a resumed subscription may replay (default 10,000)
	ZaloMaxEventAge    time.Duration // ZALO_MAX_EVENT_AGE: older signed events are refused (default 24h)
	HTTPReadTimeout    time.Duration // HTTP_READ_TIMEOUT (default 30s)
	HTTPWriteTimeout   time.Duration // HTTP_WRITE_TIMEOUT (default 60s; websockets excepted)
	HTTPIdleTimeout    time.Duration // HTTP_IDLE_TIMEOUT (default 120s)
	TrustedProxies     []*net.IPNet  // TRUSTED_PROXIES: CIDRs whose X-Forwarded-For names the client
}

// Platforms configures the platform API clients. Base URLs point elsewhere for
// tests and staging; app credentials identify our app to Meta and Zalo.
type Platforms struct {
	TelegramAPIURL       string // TELEGRAM_API_URL
	FacebookGraphURL     string // FACEBOOK_GRAPH_URL
	FacebookGraphVersion string // FACEBOOK_GRAPH_VERSION
	WhatsAppGraphURL     string // WHATSAPP_GRAPH_URL (default: the Facebook one)
	ZaloOpenAPIURL       string // ZALO_OPENAPI_URL
	ZaloOAuthURL         string // ZALO_OAUTH_URL
	FacebookAppID        string // FACEBOOK_APP_ID
	FacebookAppSecret    string // FACEBOOK_APP_SECRET
	ZaloAppID            string // ZALO_APP_ID
	ZaloAppSecret        string // ZALO_APP_SECRET
	FacebookVerifyToken  string // FACEBOOK_VERIFY_TOKEN: answers Meta's webhook handshake
	WhatsAppAppSecret    string // WHATSAPP_APP_SECRET (default: FACEBOOK_APP_SECRET)
	WhatsAppVerifyToken  string // WHATSAPP_VERIFY_TOKEN
	IngestWorkers        int    // INGEST_WORKERS: journal processing workers (default 2; 0: this replica only journals)
	OutboxWorkers        int    // OUTBOX_WORKERS: workers sending agents' messages (default 2; 0: this replica sends nothing)
	OutboxMaxAttempts    int    // OUTBOX_MAX_ATTEMPTS: tries of a send that fails for a passing reason (default 8)
	MediaAllowPrivate    bool   // MEDIA_FETCH_ALLOW_PRIVATE: let attachment URLs point at private addresses (default false)
	// CONNECTION_CHECK_INTERVAL: how often each connection's platform is
	// asked about its token and webhook (default 15m, at least 1s).
	ConnectionCheckInterval time.Duration
}

// FromEnv reads the configuration from the process environment.
func FromEnv() (*Config, error) { return Load(os.Getenv) }

// Load reads the configuration through getenv and validates it.
func Load(getenv func(string) string) (*Config, error) {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	c := &Config{
		Addr:            getenv("ADDR"),
		DatabaseURL:     getenv("DATABASE_URL"),
		BootstrapEmail:  strings.TrimSpace(getenv("BOOTSTRAP_ADMIN_EMAIL")),
		BootstrapPass:   getenv("BOOTSTRAP_ADMIN_PASSWORD"),
		TokenTTL:        12 * time.Hour,
		Introspection:   true,
		AutoMigrate:     true,
		ComplexityLimit: 20000,
		ShutdownTimeout: 15 * time.Second,
	}
	if c.Addr == "" {
		if port := getenv("PORT"); port != "" {
			c.Addr = ":" + port
		} else {
			c.Addr = ":8080"
		}
	}
	if c.DatabaseURL == "" {
		bad("DATABASE_URL", "is required (e.g. postgres://user@localhost:5432/switchboard?sslmode=disable)")
	}

	public := getenv("PUBLIC_URL")
	if public == "" {
		public = "http://" + c.Addr
		if strings.HasPrefix(c.Addr, ":") {
			public = "http://localhost" + c.Addr
		}
	}
	if u, err := url.Parse(public); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("PUBLIC_URL", "must be an http or https URL, got %q", public)
	} else {
		u.Path = strings.TrimRight(u.Path, "/")
		c.PublicURL = u
	}

	if s := getenv("JWT_SECRET"); len(s) < 32 {
		bad("JWT_SECRET", "is required and must be at least 32 characters (e.g. `openssl rand -base64 48`)")
	} else {
		c.JWTSecret = []byte(s)
	}
	if s := getenv("JWT_TTL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < time.Minute {
			bad("JWT_TTL", "must be a duration of at least 1m, got %q", s)
		}
		c.TokenTTL = d
	}

	if key, err := ParseKey(getenv("ENCRYPTION_KEY")); err != nil {
		bad("ENCRYPTION_KEY", "%v", err)
	} else {
		c.EncryptionKey = key
	}

	for i, k := range strings.Split(getenv("ENCRYPTION_OLD_KEYS"), ",") {
		if strings.TrimSpace(k) == "" {
			continue
		}
		key, err := ParseKey(k)
		if err != nil {
			bad("ENCRYPTION_OLD_KEYS", "key %d %v", i+1, err)
			continue
		}
		c.OldEncryptionKeys = append(c.OldEncryptionKeys, key)
	}

	or := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	p := &c.Platforms
	p.TelegramAPIURL = or("TELEGRAM_API_URL", "https://api.telegram.org")
	p.FacebookGraphURL = or("FACEBOOK_GRAPH_URL", "https://graph.facebook.com")
	p.FacebookGraphVersion = or("FACEBOOK_GRAPH_VERSION", "v21.0")
	p.WhatsAppGraphURL = or("WHATSAPP_GRAPH_URL", p.FacebookGraphURL)
	p.ZaloOpenAPIURL = or("ZALO_OPENAPI_URL", "https://openapi.zalo.me")
	p.ZaloOAuthURL = or("ZALO_OAUTH_URL", "https://oauth.zaloapp.com")
	p.FacebookAppID = getenv("FACEBOOK_APP_ID")
	p.FacebookAppSecret = getenv("FACEBOOK_APP_SECRET")
	p.ZaloAppID = getenv("ZALO_APP_ID")
	p.ZaloAppSecret = getenv("ZALO_APP_SECRET")
	p.FacebookVerifyToken = getenv("FACEBOOK_VERIFY_TOKEN")
	p.WhatsAppAppSecret = or("WHATSAPP_APP_SECRET", p.FacebookAppSecret)
	p.WhatsAppVerifyToken = getenv("WHATSAPP_VERIFY_TOKEN")
	// Two workers: while one waits on PostgreSQL the other works, which
	// on two cores kept the journal's backlog at 2,000 webhooks/s near
	// zero where one let it grow (PERFORMANCE.md).
	p.IngestWorkers = 2
	if s := getenv("INGEST_WORKERS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 256 {
			bad("INGEST_WORKERS", "must be a number from 0 (this replica only journals) to 256, got %q", s)
		}
		p.IngestWorkers = n
	}
	intVar := func(name string, dst *int, def, lo, hi int, meaning string) {
		*dst = def
		if s := getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < lo || n > hi {
				bad(name, "must be a number from %d to %d (%s), got %q", lo, hi, meaning, s)
			}
			*dst = n
		}
	}
	intVar("OUTBOX_WORKERS", &p.OutboxWorkers, 2, 0, 256, "0: this replica sends nothing")
	intVar("OUTBOX_MAX_ATTEMPTS", &p.OutboxMaxAttempts, 8, 1, 100, "tries of a send that fails for a passing reason")
	// Days are how retention is thought of; Go durations stop at hours.
	retention := func(name string, def time.Duration) time.Duration {
		s := strings.TrimSpace(getenv(name))
		if s == "" {
			return def
		}
		d, err := time.ParseDuration(s)
		if days, ok := strings.CutSuffix(s, "d"); ok {
			var n int
			n, err = strconv.Atoi(days)
			d = time.Duration(n) * 24 * time.Hour
		}
		if err != nil || d < time.Hour {
			bad(name, "must be a duration of at least 1h, in days (30d) or as a Go duration (720h), got %q", s)
		}
		return d
	}
	c.WebhookRetention = retention("WEBHOOK_RETENTION", 30*24*time.Hour)
	c.EventLogRetention = retention("EVENT_LOG_RETENTION", 7*24*time.Hour)
	p.ConnectionCheckInterval = 15 * time.Minute
	if s := getenv("CONNECTION_CHECK_INTERVAL"); s != "" {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < time.Second {
			bad("CONNECTION_CHECK_INTERVAL", "must be a Go duration of at least 1s (e.g. 15m or 1h), got %q", s)
		}
		p.ConnectionCheckInterval = d
	}
	if s := getenv("MEDIA_FETCH_ALLOW_PRIVATE"); s != "" {
		v, err := strconv.ParseBool(s)
		if err != nil {
			bad("MEDIA_FETCH_ALLOW_PRIVATE", "must be true or false, got %q", s)
		}
		p.MediaAllowPrivate = v
	}
	for name, v := range map[string]string{
		"TELEGRAM_API_URL": p.TelegramAPIURL, "FACEBOOK_GRAPH_URL": p.FacebookGraphURL, "WHATSAPP_GRAPH_URL": p.WhatsAppGraphURL,
		"ZALO_OPENAPI_URL": p.ZaloOpenAPIURL, "ZALO_OAUTH_URL": p.ZaloOAuthURL,
	} {
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(name, "must be an http or https URL, got %q", v)
		}
	}
	if !strings.HasPrefix(p.FacebookGraphVersion, "v") {
		bad("FACEBOOK_GRAPH_VERSION", "must look like v21.0, got %q", p.FacebookGraphVersion)
	}

	if (c.BootstrapEmail == "") != (c.BootstrapPass == "") {
		bad("BOOTSTRAP_ADMIN_EMAIL", "and BOOTSTRAP_ADMIN_PASSWORD must be set together")
	}

	switch lvl := strings.ToLower(getenv("LOG_LEVEL")); lvl {
	case "", "info":
		c.LogLevel = slog.LevelInfo
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "warn":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		bad("LOG_LEVEL", "must be debug, info, warn or error, got %q", lvl)
	}

	boolVar := func(name string, dst *bool) {
		if s := getenv(name); s != "" {
			v, err := strconv.ParseBool(s)
			if err != nil {
				bad(name, "must be true or false, got %q", s)
			}
			*dst = v
		}
	}
	switch c.Env = strings.ToLower(strings.TrimSpace(getenv("ENV"))); c.Env {
	case "", "development":
		c.Env = ""
	case "production":
		// Introspection and the playground help developers and attackers
		// alike: off in production unless INTROSPECTION says otherwise.
		c.Introspection = false
	default:
		bad("ENV", "must be production, or unset for development, got %q", c.Env)
	}
	boolVar("INTROSPECTION", &c.Introspection)
	boolVar("AUTO_MIGRATE", &c.AutoMigrate)
	c.AdminAddr = strings.TrimSpace(getenv("ADMIN_ADDR"))
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			// The exporter would only log a bad one, at every export.
			if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad(name, "must be an http or https URL (e.g. http://otel-collector:4318), got %q", v)
			}
			c.TracesEndpoint = v
			break
		}
	}

	l := &c.Limits
	number := func(name string, dst *int, def, lo, hi int) {
		*dst = def
		if s := getenv(name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < lo || n > hi {
				bad(name, "must be a number from %d to %d, got %q", lo, hi, s)
			}
			*dst = n
		}
	}
	duration := func(name string, dst *time.Duration, def, lo time.Duration) {
		*dst = def
		if s := getenv(name); s != "" {
			d, err := time.ParseDuration(s)
			if err != nil || d < lo {
				bad(name, "must be a duration of at least %s, got %q", lo, s)
			}
			*dst = d
		}
	}
	number("GRAPHQL_MAX_TOKENS", &l.MaxTokens, 15000, 100, 1000000)
	number("GRAPHQL_MAX_QUERY_BYTES", &l.MaxQueryBytes, 64<<10, 1024, 1<<20)
	number("GRAPHQL_MAX_PAGE", &l.MaxPage, 500, 1, 100000)
	number("GRAPHQL_MAX_NODES", &l.MaxNodes, 100, 1, 10000)
	perSecond := func(name string, dst *float64, def float64) {
		*dst = def
		if s := getenv(name); s != "" {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || !(v > 0) || math.IsInf(v, 0) {
				bad(name, "must be a positive number of requests per second, got %q", s)
			}
			*dst = v
		}
	}
	perSecond("ANON_RATE_LIMIT", &l.AnonRate, 5)
	number("ANON_RATE_BURST", &l.AnonBurst, 20, 1, 100000)
	// The widget's callback runs on every page view of the business's site,
	// and visitors behind one NAT share an address: a burst for a busy
	// office, a steady rate far below what could hurt the database.
	perSecond("WIDGET_RATE_LIMIT", &l.WidgetRate, 1)
	number("WIDGET_RATE_BURST", &l.WidgetBurst, 60, 1, 100000)
	number("LOGIN_MAX_FAILURES_PER_EMAIL", &l.LoginEmailFailures, 5, 1, 1000)
	number("LOGIN_MAX_FAILURES_PER_IP", &l.LoginIPFailures, 20, 1, 100000)
	duration("LOGIN_FAILURE_WINDOW", &l.LoginWindow, 15*time.Minute, time.Second)
	number("WS_MAX_OPERATIONS_PER_SOCKET", &l.WSMaxOperations, 100, 1, 100000)
	number("WS_MAX_SOCKETS_PER_USER", &l.WSMaxSockets, 50, 1, 1000000)
	duration("WS_WRITE_TIMEOUT", &l.WSWriteTimeout, 10*time.Second, 100*time.Millisecond)
	number("EVENT_REPLAY_MAX", &l.EventReplayMax, 10000, 1, 100000000)
	duration("ZALO_MAX_EVENT_AGE", &l.ZaloMaxEventAge, 24*time.Hour, time.Minute)
	duration("HTTP_READ_TIMEOUT", &l.HTTPReadTimeout, 30*time.Second, time.Second)
	duration("HTTP_WRITE_TIMEOUT", &l.HTTPWriteTimeout, 60*time.Second, time.Second)
	duration("HTTP_IDLE_TIMEOUT", &l.HTTPIdleTimeout, 120*time.Second, time.Second)
	for _, cidr := range strings.Split(getenv("TRUSTED_PROXIES"), ",") {
		if cidr = strings.TrimSpace(cidr); cidr == "" {
			continue
		}
		if !strings.Contains(cidr, "/") {
			if ip := net.ParseIP(cidr); ip != nil && ip.To4() != nil {
				cidr += "/32"
			} else {
				cidr += "/128"
			}
		}
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			bad("TRUSTED_PROXIES", "must be comma-separated IP addresses or CIDRs, got %q", cidr)
			continue
		}
		l.TrustedProxies = append(l.TrustedProxies, n)
	}

	if s := getenv("GRAPHQL_COMPLEXITY_LIMIT"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 10 {
			bad("GRAPHQL_COMPLEXITY_LIMIT", "must be a number of at least 10, got %q", s)
		}
		c.ComplexityLimit = n
	}
	// 64 MB made the inbox page 25 % faster (PERFORMANCE.md, item 31), and
	// once the live heap is larger it changes nothing.
	intVar("GC_HEAP_FLOOR_MB", &c.GCHeapFloorMB, 64, 0, 1<<20, "megabytes; 0: GOGC alone")
	if s := getenv("SHUTDOWN_TIMEOUT"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			bad("SHUTDOWN_TIMEOUT", "must be a duration, got %q", s)
		}
		c.ShutdownTimeout = d
	}
	for _, o := range strings.Split(getenv("ALLOWED_ORIGINS"), ",") {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			c.AllowedOrigins = append(c.AllowedOrigins, o)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n%w", errors.Join(errs...))
	}
	return c, nil
}

// ParseKey decodes a standard-base64 AES-256 key.
func ParseKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("is required: 32 random bytes in standard base64 (e.g. `openssl rand -base64 32`)")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, errors.New("is not standard base64")
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("must decode to 32 bytes, got %d", len(key))
	}
	return key, nil
}

// LogValue prints the configuration with secrets masked.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("addr", c.Addr),
		slog.String("database_url", redactURL(c.DatabaseURL)),
		slog.String("public_url", c.PublicURL.String()),
		slog.String("jwt_secret", "[set]"),
		slog.Duration("jwt_ttl", c.TokenTTL),
		slog.String("encryption_key", "[set]"),
		slog.String("bootstrap_admin_email", c.BootstrapEmail),
		slog.String("log_level", c.LogLevel.String()),
		slog.String("env", c.Env),
		slog.String("admin_addr", c.AdminAddr),
		slog.String("otel_exporter_otlp_endpoint", redactURL(c.TracesEndpoint)),
		slog.Bool("introspection", c.Introspection),
		slog.Bool("auto_migrate", c.AutoMigrate),
		slog.Int("graphql_complexity_limit", c.ComplexityLimit),
		slog.Any("allowed_origins", c.AllowedOrigins),
		slog.Int("encryption_old_keys", len(c.OldEncryptionKeys)),
		slog.String("telegram_api_url", c.Platforms.TelegramAPIURL),
		slog.String("facebook_graph_url", c.Platforms.FacebookGraphURL),
		slog.String("facebook_graph_version", c.Platforms.FacebookGraphVersion),
		slog.String("whatsapp_graph_url", c.Platforms.WhatsAppGraphURL),
		slog.String("zalo_openapi_url", c.Platforms.ZaloOpenAPIURL),
		slog.String("zalo_oauth_url", c.Platforms.ZaloOAuthURL),
		slog.String("facebook_app_id", c.Platforms.FacebookAppID),
		slog.Bool("facebook_app_secret_set", c.Platforms.FacebookAppSecret != ""),
		slog.String("zalo_app_id", c.Platforms.ZaloAppID),
		slog.Bool("zalo_app_secret_set", c.Platforms.ZaloAppSecret != ""),
		slog.Bool("facebook_verify_token_set", c.Platforms.FacebookVerifyToken != ""),
		slog.Bool("whatsapp_app_secret_set", c.Platforms.WhatsAppAppSecret != ""),
		slog.Bool("whatsapp_verify_token_set", c.Platforms.WhatsAppVerifyToken != ""),
		slog.Int("ingest_workers", c.Platforms.IngestWorkers),
		slog.Duration("webhook_retention", c.WebhookRetention),
		slog.Duration("event_log_retention", c.EventLogRetention),
		slog.Int("gc_heap_floor_mb", c.GCHeapFloorMB),
		slog.Int("outbox_workers", c.Platforms.OutboxWorkers),
		slog.Int("outbox_max_attempts", c.Platforms.OutboxMaxAttempts),
		slog.Bool("media_fetch_allow_private", c.Platforms.MediaAllowPrivate),
		slog.Duration("connection_check_interval", c.Platforms.ConnectionCheckInterval),
	)
}

// redactURL hides a password in a database URL.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.Scheme != "" {
		q := u.Query()
		for k := range q {
			if strings.EqualFold(k, "password") {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
		return u.Redacted()
	}
	// A key=value DSN ("host=db user=app password='s3cret'"): mask the value,
	// quoted or not.
	return dsnPassword.ReplaceAllString(s, "${1}xxxxx")
}

var dsnPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)
