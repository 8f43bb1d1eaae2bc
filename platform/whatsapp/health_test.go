package whatsapp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
)

// Health asks for the quality rating and both messaging-limit fields, and
// prefers the portfolio's limit to the deprecated per-number tier.
func TestHealth(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	s.SetPhoneHealth(phoneID, "YELLOW", "TIER_2K")
	got, err := c.Health(context.Background(), phoneID, phoneTok)
	if err != nil {
		t.Fatal(err)
	}
	if got.QualityRating != "YELLOW" || got.MessagingLimit != "TIER_2K" || got.ID != phoneID {
		t.Fatalf("Health = %+v", got)
	}

	// Shapes the fake does not produce: only the deprecated field, and the
	// new one written as a number.
	for _, tc := range []struct{ body, want string }{
		{`{"id":"1","quality_rating":"GREEN","messaging_limit_tier":"TIER_1K"}`, "TIER_1K"},
		{`{"id":"1","quality_rating":"GREEN","whatsapp_business_manager_messaging_limit":"TIER_10K","messaging_limit_tier":"TIER_1K"}`, "TIER_10K"},
		{`{"id":"1","quality_rating":"GREEN","whatsapp_business_manager_messaging_limit":2000}`, "2000"},
		{`{"id":"1","quality_rating":"GREEN"}`, ""},
	} {
		var fields string
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fields = r.URL.Query().Get("fields")
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(tc.body))
		}))
		got, err := whatsapp.New(graphapi.New(srv.URL, "v21.0", nil)).Health(context.Background(), "1", phoneTok)
		srv.Close()
		if err != nil || got.MessagingLimit != tc.want {
			t.Errorf("Health of %s = %+v, %v; want limit %q", tc.body, got, err, tc.want)
		}
		for _, f := range []string{"quality_rating", "whatsapp_business_manager_messaging_limit", "messaging_limit_tier"} {
			if !strings.Contains(fields, f) {
				t.Errorf("fields %q lack %s", fields, f)
			}
		}
	}
}

// Should Graph refuse a messaging-limit field it does not serve (code 100),
// the number's health is read without it rather than failing the check.
func TestHealthWithoutTheLimitFields(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	s.SetPhoneHealth(phoneID, "RED", "TIER_2K")
	s.FailNext("GET /"+phoneID, 400, 100, 0, "(#100) Tried accessing nonexisting field (whatsapp_business_manager_messaging_limit) on node type (WhatsAppBusinessPhoneNumber)")
	got, err := c.Health(context.Background(), phoneID, phoneTok)
	if err != nil || got.QualityRating != "RED" || got.MessagingLimit != "" {
		t.Fatalf("Health = %+v, %v; want the rating without a limit", got, err)
	}
}
