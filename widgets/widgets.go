// Package widgets is the Zalo interaction widget (seed 000) of a Zalo
// connection: the settings a campaign's managers give it, the snippet the
// business pastes into its website, and the counts of what visitors' browsers
// report through its callback. The counts come from public pages that anyone
// can script, so they are statistics and never consent: consent is only what
// Zalo's signed widget_interaction_accepted webhook says, which ingest records
// on the contact (see Consent).
//
// The GraphQL edge reads and changes the settings through Service; the
// browser's reports arrive at Browser, the one public, unauthenticated HTTP
// endpoint of Switchboard that is not a platform's webhook.
package widgets

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/ent/connection"
	"github.com/switchboard-chat/switchboard/ent/privacy"
	"github.com/switchboard-chat/switchboard/ent/schema/pulid"
	"github.com/switchboard-chat/switchboard/ent/schema/schematype"
	"github.com/switchboard-chat/switchboard/ent/widgetstat"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/platform/zalo"
)

// Status is whether the widget shows on the business's pages.
type Status string

// Statuses. Zalo shows the widget unless told to hide it.
const (
	Show Status = "SHOW"
	Hide Status = "HIDE"
)

// Widget is a Zalo connection's widget as the API shows it.
type Widget struct {
	ConnectionID pulid.ID
	OAID         string
	AppID        string
	Status       Status
	// ReasonMessage and CallbackName are nil when not set.
	ReasonMessage  *string
	CallbackName   *string
	AllowedOrigins []string
	// EventsURL is where the page's callback reports the visitor's actions.
	EventsURL string
}

// Snippet is the widget's ready-to-paste HTML.
func (w *Widget) Snippet() string {
	return zalo.Widget{
		OAID: w.OAID, AppID: w.AppID, Hidden: w.Status == Hide,
		CallbackName: deref(w.CallbackName), ReasonMessage: deref(w.ReasonMessage),
	}.Snippet()
}

// ActionCount is how often browsers reported one action of the widget.
type ActionCount struct {
	Action string
	Count  int64
	// LastAt is nil for an action never reported.
	LastAt *time.Time
}

// ContactConsent is what a customer granted through the widget, as Zalo's
// signed webhooks told it.
type ContactConsent struct {
	GrantedAt           *time.Time
	CustomerIDSyncError *string
}

// Consent is the contact's consent; nil when Zalo has told nothing of it.
func Consent(c *ent.Contact) *ContactConsent {
	if c.ConsentGrantedAt == nil && c.CustomerIDSyncError == "" {
		return nil
	}
	return &ContactConsent{GrantedAt: c.ConsentGrantedAt, CustomerIDSyncError: nonEmpty(c.CustomerIDSyncError)}
}

// appIDer is the Zalo channel's answer to which app an OA's widget belongs to.
type appIDer interface {
	AppID(platform.Credentials) string
}

// Service reads and changes widgets and counts their browser events.
type Service struct {
	client    *ent.Client
	conns     *connections.Service
	w         *events.Writer
	publicURL *url.URL
	now       func() time.Time
}

// New returns the widgets service; publicURL is the base of the events URL
// the widget's page reports to (PUBLIC_URL).
func New(client *ent.Client, conns *connections.Service, w *events.Writer, publicURL *url.URL) *Service {
	return &Service{client: client, conns: conns, w: w, publicURL: publicURL, now: time.Now}
}

// system is the context of work no viewer's rules apply to.
func system(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// Get returns the widget of a Zalo connection the viewer may see.
func (s *Service) Get(ctx context.Context, connectionID pulid.ID) (*Widget, error) {
	c, err := s.connection(ctx, connectionID)
	if err != nil {
		return nil, err
	}
	return s.widget(c)
}

// Update changes a Zalo connection's widget: a MANAGER of its campaign (the
// data layer's rules check it on the write), fields left out unchanged. The
// settings are merged under the row's lock, so two managers changing
// different fields at once both keep their change.
func (s *Service) Update(ctx context.Context, connectionID pulid.ID, in UpdateInput) (*Widget, error) {
	c, err := s.connection(ctx, connectionID)
	if err != nil {
		return nil, err
	}
	if c.Status == connection.StatusINACTIVE {
		return nil, apperr.Preconditionf("connection %s was disconnected: connect the OA again before setting up its widget", c.ID)
	}
	change, err := in.validate()
	if err != nil {
		return nil, err
	}
	err = s.w.Do(ctx, func(tx *ent.Tx) ([]events.Event, error) {
		locked, err := tx.Connection.Query().Where(connection.ID(c.ID)).ForUpdate().Only(ctx)
		if err != nil {
			return nil, fmt.Errorf("locking connection %s: %w", c.ID, err)
		}
		if c, err = tx.Connection.UpdateOne(locked).SetWidget(change.onto(locked.Widget)).Save(ctx); err != nil {
			return nil, fmt.Errorf("updating the widget of connection %s: %w", locked.ID, err)
		}
		return []events.Event{events.Connection(c)}, nil
	})
	if err != nil {
		return nil, err
	}
	return s.widget(c.Unwrap())
}

// Stats counts each action browsers reported, every action listed.
func (s *Service) Stats(ctx context.Context, w *Widget) ([]*ActionCount, error) {
	rows, err := s.client.WidgetStat.Query().Where(widgetstat.ConnectionID(w.ConnectionID)).All(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the widget counts of connection %s: %w", w.ConnectionID, err)
	}
	byAction := map[string]*ent.WidgetStat{}
	for _, r := range rows {
		byAction[r.Action] = r
	}
	out := make([]*ActionCount, len(zalo.WidgetActions))
	for i, a := range zalo.WidgetActions {
		out[i] = &ActionCount{Action: a}
		if r := byAction[a]; r != nil {
			out[i].Count, out[i].LastAt = r.Count, &r.LastAt
		}
	}
	return out, nil
}

// record counts one browser report of action for the connection.
func (s *Service) record(ctx context.Context, c *ent.Connection, action string) error {
	err := s.client.WidgetStat.Create().
		SetCampaignID(c.CampaignID).
		SetConnectionID(c.ID).
		SetAction(action).
		SetCount(1).
		SetLastAt(s.now()).
		OnConflictColumns(widgetstat.FieldConnectionID, widgetstat.FieldAction).
		Update(func(u *ent.WidgetStatUpsert) { u.AddCount(1).UpdateLastAt() }).
		Exec(system(ctx))
	if err != nil {
		return fmt.Errorf("counting %s for connection %s: %w", action, c.ID, err)
	}
	return nil
}

// connection loads a Zalo connection the viewer may see.
func (s *Service) connection(ctx context.Context, id pulid.ID) (*ent.Connection, error) {
	c, err := s.client.Connection.Get(ctx, id)
	if ent.IsNotFound(err) {
		return nil, &apperr.InputError{Field: "connectionID", Message: fmt.Sprintf("connection %s not found", id), Kind: apperr.ErrNotFound}
	}
	if err != nil {
		return nil, err
	}
	if c.Platform != schematype.PlatformZalo {
		return nil, apperr.Input("connectionID", "connection %s is a %s connection: the interaction widget is Zalo's", id, platform.Name(c.Platform))
	}
	return c, nil
}

// widget is a connection's widget as shown.
func (s *Service) widget(c *ent.Connection) (*Widget, error) {
	ch, err := s.conns.Channel(schematype.PlatformZalo)
	if err != nil {
		return nil, err
	}
	apps, ok := ch.(appIDer)
	if !ok {
		return nil, fmt.Errorf("the %T channel does not tell its OAs' app", ch)
	}
	var creds platform.Credentials
	if len(c.Credentials) > 0 { // a disconnected OA keeps none: the app is ours then
		if creds, err = s.conns.Credentials(c); err != nil {
			return nil, err
		}
	}
	set := c.Widget
	w := &Widget{
		ConnectionID:   c.ID,
		OAID:           c.ExternalID,
		AppID:          apps.AppID(creds),
		Status:         Show,
		ReasonMessage:  nonEmpty(set.ReasonMessage),
		CallbackName:   nonEmpty(set.CallbackName),
		AllowedOrigins: append([]string{}, set.AllowedOrigins...),
		EventsURL:      strings.TrimRight(s.publicURL.String(), "/") + EventsPath(c.ID),
	}
	if Status(set.Status) == Hide {
		w.Status = Hide
	}
	return w, nil
}

// EventsPath is the path of a connection's browser events endpoint.
func EventsPath(connectionID pulid.ID) string {
	return "/widgets/zalo/" + string(connectionID) + "/events"
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
