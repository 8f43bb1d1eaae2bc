package whatsapp_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/graphapi"
	"github.com/switchboard-chat/switchboard/platform/graphapi/graphtest"
	"github.com/switchboard-chat/switchboard/platform/whatsapp"
)

// Distinctive credentials, so a leak into error text is easy to spot.
const (
	appSecret = "APPSECRET-wa-Vb5xN2"
	phoneTok  = "SYSTEMTOKEN-wa-Qe8rT1"
	otherTok  = "SYSTEMTOKEN-other-wa-Jm4kS6"
	phoneID   = "106540352242922"
	otherID   = "106540352249999"
)

func setup(t *testing.T) (*graphtest.Server, *whatsapp.Client) {
	t.Helper()
	s := graphtest.NewServer(t, "880088008800", appSecret)
	s.AddPhoneNumber(phoneID, phoneTok, "+1 555-078-3881", "Sheena's Shop")
	s.AddPhoneNumber(otherID, otherTok, "+1 555-000-9999", "Other Shop")
	return s, whatsapp.New(graphapi.New(s.URL, "v21.0", nil))
}

func TestPhoneNumber(t *testing.T) {
	t.Parallel()
	s, c := setup(t)
	got, err := c.PhoneNumber(context.Background(), phoneID, phoneTok)
	if err != nil {
		t.Fatal(err)
	}
	want := &whatsapp.PhoneNumber{ID: phoneID, DisplayPhoneNumber: "+1 555-078-3881", VerifiedName: "Sheena's Shop", QualityRating: "GREEN"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("phone number (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"GET /v21.0/" + phoneID}, s.Calls()); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestPhoneNumberErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		prepare  func(*graphtest.Server)
		id       string
		token    string
		wantKind platform.Kind
		wantCode int
		wantSub  int
	}{
		{name: "unknown phone number", id: "999", token: phoneTok, wantKind: platform.Permanent, wantCode: 100, wantSub: 33},
		{name: "another business's number", id: otherID, token: phoneTok, wantKind: platform.Permanent, wantCode: 100, wantSub: 33},
		{name: "unknown token", id: phoneID, token: "NOT-A-TOKEN-wa", wantKind: platform.Auth, wantCode: 190},
		{
			name:    "expired token",
			prepare: func(s *graphtest.Server) { s.ExpireToken(phoneTok) },
			id:      phoneID, token: phoneTok, wantKind: platform.Auth, wantCode: 190, wantSub: 463,
		},
		{
			name:    "permission missing",
			prepare: func(s *graphtest.Server) { s.FailNext("GET /"+phoneID, 403, 200, 0, "(#200) Permissions error") },
			id:      phoneID, token: phoneTok, wantKind: platform.Auth, wantCode: 200,
		},
		{
			name: "rate limited",
			prepare: func(s *graphtest.Server) {
				s.FailNext("GET /"+phoneID, 400, 80008, 0, "(#80008) There have been too many calls to this WhatsApp Business account.")
			},
			id: phoneID, token: phoneTok, wantKind: platform.RateLimited, wantCode: 80008,
		},
		{
			name:    "plain server error",
			prepare: func(s *graphtest.Server) { s.FailNext("GET /"+phoneID, 502, 0, 0, "bad gateway") },
			id:      phoneID, token: phoneTok, wantKind: platform.Transient,
		},
		{
			name:    "down",
			prepare: func(s *graphtest.Server) { s.Close() },
			id:      phoneID, token: phoneTok, wantKind: platform.Transient,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, c := setup(t)
			if tt.prepare != nil {
				tt.prepare(s)
			}
			_, err := c.PhoneNumber(context.Background(), tt.id, tt.token)
			var pe *platform.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want *platform.Error", err)
			}
			if pe.Platform != "whatsapp" || pe.Kind != tt.wantKind || pe.Code != tt.wantCode || pe.Subcode != tt.wantSub {
				t.Errorf("got %s kind %v code %d subcode %d, want whatsapp %v %d %d", pe.Platform, pe.Kind, pe.Code, pe.Subcode, tt.wantKind, tt.wantCode, tt.wantSub)
			}
			for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err)} {
				for _, secret := range []string{phoneTok, otherTok, appSecret} {
					if strings.Contains(text, secret) {
						t.Errorf("error %q contains secret %q", text, secret)
					}
				}
			}
		})
	}
}
