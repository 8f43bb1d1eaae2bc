package accounts_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/switchboard-chat/switchboard/accounts"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// Several replicas starting at once on an empty database create exactly one
// administrator; later starts create none.
func TestBootstrapCreatesOneAdminOnce(t *testing.T) {
	client := dbtest.Client(t, nil)
	svc := accounts.New(client, auth.NewTokens([]byte("0123456789abcdef0123456789abcdef"), time.Hour))
	ctx := context.Background()
	// Bootstrap acts only on an empty user table: start from one (reruns share the database).
	client.User.Delete().ExecX(privacy.DecisionContext(ctx, privacy.Allow))

	var wg sync.WaitGroup
	created := make(chan bool, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := svc.Bootstrap(ctx, "Boss@Example.com", "a long password")
			if err != nil {
				t.Error(err)
			}
			created <- ok
		}()
	}
	wg.Wait()
	close(created)
	n := 0
	for ok := range created {
		if ok {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d replicas created an admin, want exactly 1", n)
	}
	admins := client.User.Query().AllX(privacy.DecisionContext(ctx, privacy.Allow))
	if len(admins) != 1 || admins[0].Email != "boss@example.com" || admins[0].Role != user.RoleADMIN {
		t.Fatalf("users = %+v", admins)
	}
	if ok, err := svc.Bootstrap(ctx, "other@example.com", "a long password"); ok || err != nil {
		t.Fatalf("second bootstrap = %v %v, want no-op", ok, err)
	}
	s, err := svc.Login(ctx, "boss@example.com", "a long password")
	if err != nil || s.User.ID != admins[0].ID {
		t.Fatalf("login = %+v %v", s, err)
	}
	v, err := svc.Authenticate(ctx, s.Token)
	if err != nil || !v.Admin || v.UserID != admins[0].ID {
		t.Fatalf("authenticate = %+v %v", v, err)
	}
}
