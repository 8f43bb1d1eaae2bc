// Package accounts manages users: sign-in, creating accounts, the first
// administrator, and turning a bearer token back into a viewer.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/user"
	"github.com/switchboard-chat/switchboard/httpx"
)

// Service is the accounts domain service.
type Service struct {
	client   *ent.Client
	tokens   *auth.Tokens
	ended    func(ctx context.Context, id pulid.ID)
	onAccess func(pulid.ID)
	// throttle slows down password guessing (see Login).
	throttle *loginThrottle
}

// Option configures a Service.
type Option func(*Service)

// WithThrottle sets the limits on failed sign-ins (without it, Login
// throttles with the defaults of ThrottleLimits).
func WithThrottle(l ThrottleLimits) Option {
	return func(s *Service) { s.throttle = newLoginThrottle(l) }
}

// New returns the accounts service.
func New(client *ent.Client, tokens *auth.Tokens, opts ...Option) *Service {
	s := &Service{client: client, tokens: tokens}
	for _, o := range opts {
		o(s)
	}
	if s.throttle == nil {
		s.throttle = newLoginThrottle(ThrottleLimits{})
	}
	return s
}

// ErrBadCredentials is returned by Login for an unknown email or a wrong
// password alike, so callers cannot probe which emails exist.
var ErrBadCredentials = apperr.Unauthenticatedf("wrong email or password")

// Session is a signed-in user with the token that proves it.
type Session struct {
	Token     string
	ExpiresAt time.Time
	User      *ent.User
}

// system lets account code read users before anyone is signed in.
func system(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// Login checks an email and password and issues a token. Failed attempts
// are throttled per email and per client network (httpx.ClientIP of ctx):
// past the limits Login answers *apperr.ErrTooManyRequests, whatever the
// password.
func (s *Service) Login(ctx context.Context, email, password string) (*Session, error) {
	email = NormalizeEmail(email)
	var network netip.Prefix
	if ip := httpx.ClientIP(ctx); ip.IsValid() {
		network = httpx.ClientNet(ip)
	}
	try, err := s.throttle.begin(email, network)
	if err != nil {
		return nil, err
	}
	verdict := abandoned
	defer func() { try.end(verdict) }()
	u, err := s.client.User.Query().Where(user.Email(email)).Only(system(ctx))
	switch {
	case ent.IsNotFound(err):
		auth.CheckPassword(auth.DummyHash(), password)
		verdict = failed
		return nil, ErrBadCredentials
	case err != nil:
		return nil, fmt.Errorf("looking up user: %w", err)
	}
	if !auth.CheckPassword(u.PasswordHash, password) {
		verdict = failed
		return nil, ErrBadCredentials
	}
	verdict = succeeded
	if u.DeactivatedAt != nil {
		// Said only to whoever knows the password.
		return nil, apperr.Unauthenticatedf("this account was deactivated; ask an administrator")
	}
	token, exp, err := s.tokens.Issue(u.ID, u.SessionEpoch)
	if err != nil {
		return nil, err
	}
	return &Session{Token: token, ExpiresAt: exp, User: u}, nil
}

// SessionFor issues a token for the active user with email, without a
// password: for the development sandbox, which acts as the developer's
// administrator on their own machine. Nothing reachable over the network
// calls it.
func (s *Service) SessionFor(ctx context.Context, email string) (*Session, error) {
	u, err := s.client.User.Query().Where(user.Email(NormalizeEmail(email))).Only(system(ctx))
	if err != nil {
		return nil, fmt.Errorf("looking up user %s: %w", email, err)
	}
	if u.DeactivatedAt != nil {
		return nil, fmt.Errorf("user %s is deactivated", email)
	}
	token, exp, err := s.tokens.Issue(u.ID, u.SessionEpoch)
	if err != nil {
		return nil, err
	}
	return &Session{Token: token, ExpiresAt: exp, User: u}, nil
}

// Authenticate turns a bearer token into the viewer it stands for. The user is
// read fresh so a demoted or deleted account loses its powers at once.
func (s *Service) Authenticate(ctx context.Context, token string) (*auth.Viewer, error) {
	claims, err := s.tokens.Verify(token)
	if err != nil {
		return nil, apperr.Unauthenticatedf("%v", err)
	}
	u, err := s.client.User.Get(system(ctx), pulid.ID(claims.Subject))
	if ent.IsNotFound(err) {
		return nil, apperr.Unauthenticatedf("the token's user no longer exists")
	}
	if err != nil {
		return nil, fmt.Errorf("loading token user: %w", err)
	}
	v := &auth.Viewer{UserID: u.ID, Admin: u.Role == user.RoleADMIN, ExpiresAt: claims.ExpiresAt.Unix(),
		Session: claims.ID, AccessVersion: u.AccessVersion}
	v.Epoch = claims.Epoch
	if err := sessionEnded(u, v); err != nil {
		return nil, err
	}
	return v, nil
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Email    string
	Name     string
	Password string
	Role     user.Role
}

// CreateUser validates and stores a new account. Access rules allow only admins.
func (s *Service) CreateUser(ctx context.Context, in NewUser) (*ent.User, error) {
	email := NormalizeEmail(in.Email)
	if _, err := mail.ParseAddress(email); err != nil || !strings.Contains(email, "@") || strings.ContainsAny(email, " <>") {
		return nil, apperr.Input("email", "%q is not an email address", in.Email)
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		return nil, apperr.Input("name", "must not be empty")
	}
	if err := checkPassword("password", in.Password); err != nil {
		return nil, err
	}
	role := in.Role
	if role == "" {
		role = user.RoleMEMBER
	}
	if err := user.RoleValidator(role); err != nil {
		return nil, apperr.Input("role", "must be ADMIN or MEMBER")
	}
	hash, err := auth.HashPassword(in.Password)
	if err != nil {
		return nil, err
	}
	u, err := s.client.User.Create().
		SetEmail(email).
		SetName(name).
		SetPasswordHash(hash).
		SetRole(role).
		Save(ctx)
	if ent.IsConstraintError(err) {
		return nil, &apperr.InputError{Field: "email", Message: "a user with this email already exists", Kind: apperr.ErrConflict}
	}
	if err != nil {
		return nil, fmt.Errorf("creating user: %w", err)
	}
	return u, nil
}

// Bootstrap creates the first administrator when there are no users at all,
// and does nothing otherwise. It reports whether it created one.
func (s *Service) Bootstrap(ctx context.Context, email, password string) (bool, error) {
	ctx = system(ctx)
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback() }()
	// Several replicas may start at once: serialise the check-then-create.
	if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(7283001)"); err != nil {
		return false, fmt.Errorf("locking bootstrap: %w", err)
	}
	n, err := tx.User.Query().Count(ctx)
	if err != nil {
		return false, fmt.Errorf("counting users: %w", err)
	}
	if n > 0 {
		return false, nil
	}
	svc := &Service{client: tx.Client(), tokens: s.tokens}
	if _, err := svc.CreateUser(ctx, NewUser{Email: email, Name: "Administrator", Password: password, Role: user.RoleADMIN}); err != nil {
		var in *apperr.InputError
		if errors.As(err, &in) {
			return false, fmt.Errorf("BOOTSTRAP_ADMIN_%s: %s", strings.ToUpper(in.Field), in.Message)
		}
		return false, err
	}
	return true, tx.Commit()
}

// NormalizeEmail lower-cases and trims an email so lookups ignore case.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}
