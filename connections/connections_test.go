package connections_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
	"github.com/switchboard-chat/switchboard/internal/testapp"
	"github.com/switchboard-chat/switchboard/internal/testkit"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

const publicURL = "https://switchboard.example.com"

func start(t *testing.T) *testapp.Stack {
	return testapp.Start(t, testapp.Options{Env: map[string]string{
		"ZALO_APP_ID": "360846524940903967", "ZALO_APP_SECRET": "zalo-app-secret", "PUBLIC_URL": publicURL,
	}})
}

// stored returns the Zalo credentials stored for a connection.
func stored(t *testing.T, s *testapp.Stack, conn *ent.Connection) *zalo.Credentials {
	t.Helper()
	conn, err := s.Client.Connection.Get(testkit.Sys(), conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := s.Connections.Credentials(conn)
	if err != nil {
		t.Fatal(err)
	}
	return creds.(*zalo.Credentials)
}

// renewing starts a forced renewal under ctx, and returns once Zalo holds
// its refresh (the fake's refresh delay) with the row lock taken.
func renewing(t *testing.T, s *testapp.Stack, ctx context.Context, conn *ent.Connection) <-chan error {
	t.Helper()
	s.Zalo.SetRefreshDelay(300 * time.Millisecond)
	before := s.Zalo.RefreshAttempts()
	done := make(chan error, 1)
	go func() {
		_, err := s.Connections.Renew(ctx, conn.ID, true)
		done <- err
	}()
	testkit.Eventually(t, "the refresh reaches Zalo", func() bool { return s.Zalo.RefreshAttempts() == before+1 })
	return done
}

// A renewal whose caller goes away (a client disconnecting, a SIGTERM)
// while Zalo answers still stores the pair Zalo minted: the old refresh
// token is spent.
func TestRenewOutlivesItsCaller(t *testing.T) {
	s := start(t)
	conn := s.ZaloOA("oa-secret")
	_, old := s.Zalo.CurrentPair(conn.ExternalID)
	ctx, cancel := context.WithCancel(context.Background())
	done := renewing(t, s, ctx, conn)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("renewing: %v", err)
	}
	access, refresh := s.Zalo.CurrentPair(conn.ExternalID)
	got := stored(t, s, conn)
	if refresh == old || got.AccessToken != access || got.RefreshToken != refresh {
		t.Fatalf("stored %q/%q, Zalo's pair %q/%q (the old refresh token %q)", got.AccessToken, got.RefreshToken, access, refresh, old)
	}
}

// Replacing the OA secret key while a renewal is under way keeps the pair
// the renewal stored, and the new key.
func TestUpdateDuringARenewalKeepsTheNewPair(t *testing.T) {
	s := start(t)
	conn := s.ZaloOA("old-oa-secret")
	done := renewing(t, s, context.Background(), conn)
	key := "new-oa-secret"
	if _, err := s.Connections.Update(s.Admin(), conn.ID, connections.UpdateInput{CredentialsUpdate: platform.CredentialsUpdate{OASecretKey: &key}}); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	access, refresh := s.Zalo.CurrentPair(conn.ExternalID)
	got := stored(t, s, conn)
	if got.AccessToken != access || got.RefreshToken != refresh || got.OASecretKey != key {
		t.Fatalf("stored %q/%q with key %q; want Zalo's pair %q/%q and %q", got.AccessToken, got.RefreshToken, got.OASecretKey, access, refresh, key)
	}
}

// testConnection tells the user to give Zalo the app's one webhook URL,
// which every OA of the app shares.
func TestZaloCheckAdvisesTheAppURL(t *testing.T) {
	s := start(t)
	conn := s.ZaloOA("oa-secret")
	res, err := s.Connections.Test(s.Admin(), conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(res.Checks, func(c platform.Check) bool { return c.Name == "webhook" })
	if i < 0 {
		t.Fatalf("no webhook check in %+v", res.Checks)
	}
	if d := res.Checks[i].Detail; !strings.Contains(d, publicURL+"/webhooks/zalo ") || strings.Contains(d, string(conn.ID)) {
		t.Fatalf("webhook advice %q; want the app-wide %s/webhooks/zalo", d, publicURL)
	}
}

// OnChange's listeners hear of every change the service commits.
func TestOnChange(t *testing.T) {
	s := start(t)
	var mu sync.Mutex
	var heard []string
	s.Connections.OnChange(func(c *ent.Connection) {
		mu.Lock()
		defer mu.Unlock()
		heard = append(heard, string(c.ID)+" "+string(c.Status))
	})
	conn := s.ZaloOA("oa-secret")
	name := "Renamed"
	if _, err := s.Connections.Update(s.Admin(), conn.ID, connections.UpdateInput{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Connections.Renew(context.Background(), conn.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Connections.Disconnect(s.Admin(), conn.ID); err != nil {
		t.Fatal(err)
	}
	active, inactive := string(conn.ID)+" ACTIVE", string(conn.ID)+" INACTIVE"
	want := []string{active, active, active, inactive} // connect, update, renew, disconnect
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(heard, want) {
		t.Fatalf("heard %q, want %q", heard, want)
	}
}
