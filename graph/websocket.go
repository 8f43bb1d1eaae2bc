package graph

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/gorilla/websocket"

	"github.com/switchboard-chat/switchboard/accounts"
	"github.com/switchboard-chat/switchboard/apperr"
	"github.com/switchboard-chat/switchboard/auth"
)

// websocketTransport serves subscriptions (and any operation) over
// graphql-transport-ws and the legacy graphql-ws.
func websocketTransport(o Options) transport.Websocket {
	checkOrigin := o.CheckOrigin
	if checkOrigin == nil {
		checkOrigin = func(*http.Request) bool { return true }
	}
	return transport.Websocket{
		//lint:ignore SA1019 the design card has gorilla/websocket carry subscriptions (gqlgen v0.17.91 is pinned for it).
		Implementation: transport.GorillaWebsocketImplementation{Upgrader: websocket.Upgrader{
			CheckOrigin:     checkOrigin,
			ReadBufferSize:  4096,
			WriteBufferSize: 4096,
		}},
		InitFunc:              websocketInit(o.Accounts),
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: 15 * time.Second,
	}
}

// websocketInit authenticates a websocket from its connection_init payload
// ({"Authorization": "Bearer …"}, or authToken / token). A socket without a
// valid token is closed with 4403 before any operation runs.
func websocketInit(acc *accounts.Service) transport.WebsocketInitFunc {
	return func(ctx context.Context, p transport.InitPayload) (context.Context, *transport.InitPayload, error) {
		token := p.Authorization()
		for _, key := range []string{"authToken", "token"} {
			if token == "" {
				token = p.GetString(key)
			}
		}
		if scheme, rest, ok := strings.Cut(token, " "); ok && strings.EqualFold(scheme, "Bearer") {
			token = rest
		}
		token = strings.TrimSpace(token)
		if token == "" {
			return transport.WithWebsocketCloseCode(ctx, 4403), nil, apperr.Unauthenticatedf("authentication required: connection_init must carry Authorization")
		}
		v, err := acc.Authenticate(ctx, token)
		if err != nil {
			return transport.WithWebsocketCloseCode(ctx, 4403), nil, apperr.Unauthenticatedf("invalid or expired token")
		}
		ctx = auth.WithViewer(ctx, v)
		// Close the socket when the token expires.
		ctx, cancel := context.WithDeadline(ctx, time.Unix(v.ExpiresAt, 0))
		go func() { <-ctx.Done(); cancel() }()
		return ctx, nil, nil
	}
}
