// Package graph is the GraphQL edge of Switchboard: the schema, thin resolvers
// over the domain packages, and the HTTP handler that serves them.
package graph

import (
	"github.com/switchboard-chat/switchboard/accounts"
	"github.com/switchboard-chat/switchboard/calls"
	"github.com/switchboard-chat/switchboard/campaigns"
	"github.com/switchboard-chat/switchboard/connections"
	"github.com/switchboard-chat/switchboard/contacts"
	"github.com/switchboard-chat/switchboard/conversations"
	"github.com/switchboard-chat/switchboard/ent"
	"github.com/switchboard-chat/switchboard/events"
	"github.com/switchboard-chat/switchboard/ingest"
	"github.com/switchboard-chat/switchboard/outbox"
	"github.com/switchboard-chat/switchboard/platform"
	"github.com/switchboard-chat/switchboard/widgets"

	// The runtime registers the privacy policies and hooks of the schema; a
	// client without it would enforce no access rules at all.
	_ "github.com/switchboard-chat/switchboard/ent/runtime"
)

// Resolver holds what resolvers need; one per server.
type Resolver struct {
	Client    *ent.Client
	Accounts  *accounts.Service
	Campaigns *campaigns.Service
	// Channels is the connections service (Connections is taken by the query).
	Channels  *connections.Service
	Ingest    *ingest.Processor
	Hub       *events.Hub
	Platforms *platform.Registry
	Outbox    *outbox.Service
	// Workflow changes conversations and tags (Conversations is taken by the query).
	Workflow *conversations.Service
	// CallLog logs softphone calls (Calls is taken by the query) and keeps softphone registrations.
	CallLog *calls.Service
	// Contacts records what agents learn about customers.
	Contacts *contacts.Service
	// Widgets are Zalo connections' interaction widgets.
	Widgets *widgets.Service
	// Access re-checks subscribers' access when it changes.
	Access *Access
	// ReplayMax is how many events a resumed subscription may replay.
	ReplayMax int
}
